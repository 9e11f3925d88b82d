#include "preprocess/ctd_conditions.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "posebatch/status.h"
#include "predict/topdown_postprocess.h"
#include "preprocess/reflect101.h"

namespace posebatch {
namespace {

// cv::getGaussianKernel(n, sigma <= 0, CV_64F) for n > 7: sigma from the size.
std::vector<double> GaussianKernel(int n) {
  const double sigma = ((n - 1) * 0.5 - 1) * 0.3 + 0.8;
  const double scale2 = -0.5 / (sigma * sigma);
  std::vector<double> k(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const double x = i - (n - 1) * 0.5;
    k[i] = std::exp(scale2 * x * x);
    sum += k[i];
  }
  sum = 1. / sum;
  for (double& v : k) v *= sum;
  return k;
}

// Small fixed kernels OpenCV uses for n <= 7 with automatic sigma.
std::vector<double> SmallGaussianKernel(int n) {
  switch (n) {
    case 1:
      return {1.0};
    case 3:
      return {0.25, 0.5, 0.25};
    case 5:
      return {0.0625, 0.25, 0.375, 0.25, 0.0625};
    case 7:
      return {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125};
    default:
      return GaussianKernel(n);
  }
}

// Taps of a blurred impulse at `center` seen from each output position: the kernel indices
// whose reflected source is the impulse, in kernel order.
std::vector<std::vector<int>> ImpulseTaps(int n, int center, int ksize) {
  std::vector<std::vector<int>> taps(n);
  const int half = ksize / 2;
  for (int o = 0; o < n; ++o) {
    for (int i = 0; i < ksize; ++i) {
      if (Reflect101(o + i - half, n) == center) taps[o].push_back(i);
    }
  }
  return taps;
}

}  // namespace

std::vector<CtdCrop> PrepareCtdCrops(const float* conditions, int64_t n, int64_t k, int frame_w, int frame_h,
                                     double bbox_margin, const TopDownCropSpec& crop) {
  std::vector<CtdCrop> crops;
  if (n == 0 || k == 0) return crops;
  const float margin = static_cast<float>(bbox_margin);
  for (int64_t i = 0; i < n; ++i) {
    const float* pose = conditions + i * k * 3;
    // FilterLowConfidencePoses: nanmax of the scores >= 0.05 (all-NaN poses are dropped).
    float best = -std::numeric_limits<float>::infinity();
    bool any = false;
    for (int64_t j = 0; j < k; ++j) {
      if (!std::isnan(pose[3 * j + 2])) best = std::max(best, pose[3 * j + 2]), any = true;
    }
    if (!any || !(best >= 0.05f)) continue;
    // bbox_from_keypoints: keypoints with score <= 0 are ignored; NaN coordinates too.
    float lo[2] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::quiet_NaN()};
    float hi[2] = {lo[0], lo[1]};
    for (int64_t j = 0; j < k; ++j) {
      if (pose[3 * j + 2] <= 0) continue;
      for (int a = 0; a < 2; ++a) {
        const float v = pose[3 * j + a];
        if (std::isnan(v)) continue;
        lo[a] = std::isnan(lo[a]) ? v : std::min(lo[a], v);
        hi[a] = std::isnan(hi[a]) ? v : std::max(hi[a], v);
      }
    }
    double box[4];
    for (int a = 0; a < 2; ++a) {
      // float32 arithmetic (numpy on float32 keypoints), NaN -> 0, then clipped to the image.
      const double limit = a == 0 ? frame_w : frame_h;
      const float x1 = lo[a] - margin, x2 = hi[a] + margin;
      box[a] = std::clamp(std::isnan(x1) ? 0.0 : static_cast<double>(x1), 0.0, limit);
      box[a + 2] = std::clamp(std::isnan(x2) ? 0.0 : static_cast<double>(x2), 0.0, limit);
    }
    CtdCrop c;
    c.box = {box[0], box[1], box[2] - box[0], box[3] - box[1]};
    // FilterInvalidBoundingBoxes: area >= 1.
    if (!(c.box[2] * c.box[3] >= 1)) continue;
    c.plan = PlanTopDownCrop(c.box, frame_w, frame_h, crop);
    // ConditionalKeypointsToModelInputs: (xy - offset) / scale in float64, stored as float32.
    c.conditions.assign(pose, pose + 3 * k);
    const CropTransform& t = c.plan.transform;
    float sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      float* q = c.conditions.data() + 3 * j;
      q[0] = static_cast<float>((static_cast<double>(q[0]) - t.offset_x) / t.scale_x);
      q[1] = static_cast<float>((static_cast<double>(q[1]) - t.offset_y) / t.scale_y);
      sum += q[2];
    }
    c.score_mean = static_cast<float>(static_cast<double>(sum) / static_cast<double>(k));
    crops.push_back(std::move(c));
  }
  return crops;
}

void EncodeConditions(const float* cond, int64_t k, int h, int w, int img_h, int img_w, int kernel_w, int kernel_h,
                      float* out) {
  const size_t plane = static_cast<size_t>(h) * w;
  std::fill(out, out + k * plane, 0.0f);
  const std::vector<double> kx = SmallGaussianKernel(kernel_w);
  const std::vector<double> ky = SmallGaussianKernel(kernel_h);
  // Impulses (row, col) per channel, -1 where the keypoint is not drawn.
  std::vector<std::array<int, 2>> at(k, {-1, -1});
  for (int64_t j = 0; j < k; ++j) {
    float x = cond[3 * j], y = cond[3 * j + 1];
    const float s = cond[3 * j + 2];
    // Score <= 0 or NaN: not visible. NaN coordinates become 0 (np.nan_to_num).
    if (!(s > 0)) continue;
    if (std::isnan(x)) x = 0;
    if (std::isnan(y)) y = 0;
    if (x < 0 || x > img_w || y < 0 || y > img_h) continue;  // out_of_bounds_keypoints
    // astype(int) truncates; index -1 (a coordinate below 1) wraps to the last row/column.
    int col = static_cast<int>(x) - 1, row = static_cast<int>(y) - 1;
    if (col == -1) col = w - 1;
    if (row == -1) row = h - 1;
    if (col >= w || row >= h) {
      throw Error(Status::InvalidArgument("CTD condition keypoint (" + std::to_string(x) + ", " + std::to_string(y) +
                                          ") lies outside the " + std::to_string(w) + "x" + std::to_string(h) +
                                          " network input"));
    }
    at[j] = {row, col};
  }
  // cv2.GaussianBlur of an impulse of 255 (separable, rows then columns, reflect-101 border),
  // in float64, then divided by (max / 255) over all channels.
  std::vector<double> values(k * plane, 0.0);
  double am = 0;
  for (int64_t j = 0; j < k; ++j) {
    if (at[j][0] < 0) continue;
    const auto col_taps = ImpulseTaps(w, at[j][1], kernel_w);
    const auto row_taps = ImpulseTaps(h, at[j][0], kernel_h);
    std::vector<double> row_val(w, 0.0);
    for (int x = 0; x < w; ++x) {
      for (int i : col_taps[x]) row_val[x] += kx[i] * 255.0;
    }
    double* v = values.data() + j * plane;
    for (int y = 0; y < h; ++y) {
      if (row_taps[y].empty()) continue;
      for (int x = 0; x < w; ++x) {
        double s = 0;
        for (int i : row_taps[y]) s += ky[i] * row_val[x];
        v[static_cast<size_t>(y) * w + x] = s;
        am = std::max(am, s);
      }
    }
  }
  if (am == 0) return;
  const double div = am / 255;
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i] / div);
}

at::Tensor CtdFramePoses(const at::Tensor& crop_poses, const std::vector<CtdCrop>& crops, int max_individuals,
                         bool rescore) {
  // Keypoints are mapped back as top-down's are; only the scores differ.
  std::vector<CropTransform> transforms;
  transforms.reserve(crops.size());
  for (const CtdCrop& c : crops) transforms.push_back(c.plan.transform);
  at::Tensor out = TopDownFramePoses(crop_poses, transforms, max_individuals);
  if (!rescore) return out;
  const int64_t n = static_cast<int64_t>(crops.size()), k = crop_poses.size(1);
  const at::Tensor src = crop_poses.to(at::kFloat).contiguous();
  const float* s = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t stride = src.size(2);
  for (int64_t i = 0; i < n; ++i) {
    float sum = 0;
    int64_t valid = 0;
    for (int64_t j = 0; j < k; ++j) {
      const float score = s[(i * k + j) * stride + 2];
      if (score >= 0.2f) sum += score, ++valid;
    }
    // BUCTD rescoring: mean of the scores >= 0.2 (over max(count, 1)), times the condition mean.
    const double individual = static_cast<double>(sum) / static_cast<double>(std::max<int64_t>(valid, 1));
    const float score = static_cast<float>(static_cast<double>(crops[i].score_mean) * individual);
    for (int64_t j = 0; j < k; ++j) o[(i * k + j) * 3 + 2] = score;
  }
  return out;
}

}  // namespace posebatch
