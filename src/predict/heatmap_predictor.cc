// DeepLabCut's HeatmapPredictor, computed directly on contiguous float buffers.
#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

#include "posebatch/predictor.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

std::string ShapeText(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

[[noreturn]] void BadOutput(const std::string& what) { throw Error(Status::ModelError(what)); }

}  // namespace

void ValidateHeatmapOutputs(const HeadOutputs& outputs, const HeatmapHeadSpec& head, int64_t batch) {
  auto it = outputs.find(head.name);
  if (it == outputs.end()) BadOutput("model has no output head '" + head.name + "'");
  auto hm = it->second.find("heatmap");
  if (hm == it->second.end()) BadOutput("model head '" + head.name + "' has no 'heatmap' output");
  const at::Tensor& h = hm->second;
  if (h.dim() != 4 || h.size(0) != batch || h.size(1) != head.num_keypoints || h.size(2) < 1 || h.size(3) < 1) {
    BadOutput("model output '" + head.name + "/heatmap' has shape " + ShapeText(h) + ", expected [" +
              std::to_string(batch) + ", " + std::to_string(head.num_keypoints) +
              ", H, W] (batch, bodyparts in the config, height, width)");
  }
  if (!head.location_refinement) return;
  auto lr = it->second.find("locref");
  if (lr == it->second.end()) {
    BadOutput("model head '" + head.name + "' has no 'locref' output but the config asks for location refinement");
  }
  const at::Tensor& l = lr->second;
  if (l.dim() != 4 || l.size(0) != batch || l.size(1) != 2 * head.num_keypoints || l.size(2) != h.size(2) ||
      l.size(3) != h.size(3)) {
    BadOutput("model output '" + head.name + "/locref' has shape " + ShapeText(l) + ", expected [" +
              std::to_string(batch) + ", " + std::to_string(2 * head.num_keypoints) + ", " + std::to_string(h.size(2)) +
              ", " + std::to_string(h.size(3)) + "]");
  }
}

at::Tensor PredictHeatmapPoses(const at::Tensor& heatmap_in, const at::Tensor& locref_in, const HeatmapHeadSpec& head) {
  at::Tensor heatmap = heatmap_in.to(at::kFloat).contiguous();
  const int64_t B = heatmap.size(0), K = heatmap.size(1), H = heatmap.size(2), W = heatmap.size(3);
  const bool use_locref = head.location_refinement && locref_in.defined();
  at::Tensor locref = use_locref ? locref_in.to(at::kFloat).contiguous() : at::Tensor();
  at::Tensor out = at::empty({B, K, 3}, at::kFloat);
  const float* hp = heatmap.data_ptr<float>();
  const float* lp = use_locref ? locref.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const int64_t plane = H * W;
  // Same float32 arithmetic as DeepLabCut: index*stride + 0.5*stride + locref*locref_std.
  const float stride = static_cast<float>(head.stride);
  const float half = static_cast<float>(0.5 * head.stride);
  const float locref_std = static_cast<float>(head.locref_std);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t k = 0; k < K; ++k) {
      const float* map = hp + (b * K + k) * plane;
      // torch.argmax: first maximum; a NaN counts as the maximum.
      int64_t best = 0;
      float best_v = map[0];
      if (!std::isnan(best_v)) {
        for (int64_t i = 1; i < plane; ++i) {
          const float v = map[i];
          if (std::isnan(v)) {
            best = i;
            best_v = v;
            break;
          }
          if (v > best_v) {
            best_v = v;
            best = i;
          }
        }
      }
      const int64_t iy = best / W, ix = best % W;
      float x = static_cast<float>(ix) * stride + half;
      float y = static_cast<float>(iy) * stride + half;
      if (lp != nullptr) {
        const float* base = lp + b * 2 * K * plane;
        x += base[(2 * k) * plane + best] * locref_std;
        y += base[(2 * k + 1) * plane + best] * locref_std;
      }
      float score = best_v;
      if (head.apply_sigmoid) score = 1.0f / (1.0f + std::exp(-score));
      if (head.clip_scores) score = std::min(1.0f, std::max(0.0f, score));
      float* o = op + (b * K + k) * 3;
      o[0] = x;
      o[1] = y;
      o[2] = score;
    }
  }
  return out;
}

}  // namespace posebatch
