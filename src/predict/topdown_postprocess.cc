#include "predict/topdown_postprocess.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "posebatch/status.h"

namespace posebatch {

at::Tensor TopDownFramePoses(const at::Tensor& crop_poses, const std::vector<CropTransform>& transforms,
                             int max_individuals) {
  const int64_t n = crop_poses.size(0);
  if (crop_poses.dim() != 3 || crop_poses.size(2) < 3 || n != static_cast<int64_t>(transforms.size())) {
    throw Error(Status::Internal("top-down postprocess: " + std::to_string(n) + " crop poses for " +
                                 std::to_string(transforms.size()) + " crop transforms"));
  }
  const int64_t k = crop_poses.size(1);
  const at::Tensor src = crop_poses.to(at::kFloat).contiguous();
  at::Tensor out = at::full({std::max<int64_t>(n, max_individuals), k, 3}, -1.0f, at::kFloat);
  const float* s = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t stride = src.size(2);
  for (int64_t i = 0; i < n; ++i) {
    const CropTransform& t = transforms[i];
    for (int64_t j = 0; j < k; ++j) {
      const float* p = s + (i * k + j) * stride;
      float* q = o + (i * k + j) * 3;
      q[0] = static_cast<float>(static_cast<double>(p[0]) * t.scale_x + t.offset_x);
      q[1] = static_cast<float>(static_cast<double>(p[1]) * t.scale_y + t.offset_y);
      q[2] = p[2];
    }
  }
  return out;
}

at::Tensor TopDownFrameBoxes(const std::vector<std::array<double, 4>>& boxes, int max_individuals) {
  const int64_t n = static_cast<int64_t>(boxes.size());
  at::Tensor out = at::full({std::max<int64_t>(n, max_individuals), 4}, -1.0, at::kDouble);
  double* o = out.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) std::copy(boxes[i].begin(), boxes[i].end(), o + 4 * i);
  return out;
}

}  // namespace posebatch
