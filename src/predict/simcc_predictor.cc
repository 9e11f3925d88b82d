#include "predict/simcc_predictor.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/numpy_sum.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

// Softmax of one row (in place semantics of get_simcc_maximum), then first argmax and max.
void Decode(const float* logits, int64_t n, float scale, bool softmax, std::vector<float>& buf, int64_t* loc,
            float* val) {
  buf.resize(n);
  for (int64_t i = 0; i < n; ++i) buf[i] = logits[i] * scale;
  if (softmax) {
    const float m = *std::max_element(buf.begin(), buf.end());
    for (int64_t i = 0; i < n; ++i) buf[i] = std::exp(buf[i] - m);
    const float s = NumpyPairwiseSum(buf.data(), n);
    for (int64_t i = 0; i < n; ++i) buf[i] = buf[i] / s;
  }
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (buf[i] > buf[best]) best = i;
  }
  *loc = best;
  *val = buf[best];
}

}  // namespace

at::Tensor PredictSimCCPoses(const at::Tensor& x, const at::Tensor& y, const SimCCPredictorSpec& spec) {
  if (x.dim() != 3 || y.dim() != 3 || x.size(0) != y.size(0) || x.size(1) != y.size(1)) {
    throw Error(Status::ModelError("SimCC outputs must be (B, K, Wx) and (B, K, Wy) with the same B and K"));
  }
  const at::Tensor xs = x.to(at::kCPU, at::kFloat).contiguous(), ys = y.to(at::kCPU, at::kFloat).contiguous();
  const int64_t b = x.size(0), k = x.size(1), wx = x.size(2), wy = y.size(2);
  at::Tensor out = at::empty({b, k, 3}, at::kFloat);
  float* o = out.data_ptr<float>();
  // torch multiplies float32 by the float64 scalar sigma * beta in float32.
  const float scale_x = static_cast<float>(spec.sigma_x * spec.decode_beta);
  const float scale_y = static_cast<float>(spec.sigma_y * spec.decode_beta);
  const float threshold = spec.apply_softmax ? static_cast<float>(1.0 / static_cast<double>(wx)) : 0.f;
  const float split = static_cast<float>(spec.split_ratio);
  std::vector<float> buf;
  for (int64_t i = 0; i < b * k; ++i) {
    int64_t lx, ly;
    float vx, vy;
    Decode(xs.data_ptr<float>() + i * wx, wx, scale_x, spec.apply_softmax, buf, &lx, &vx);
    Decode(ys.data_ptr<float>() + i * wy, wy, scale_y, spec.apply_softmax, buf, &ly, &vy);
    const float score = vx > vy ? vy : vx;
    float px = static_cast<float>(lx), py = static_cast<float>(ly);
    if (score <= threshold) px = py = -1.f;
    o[3 * i] = px / split;
    o[3 * i + 1] = py / split;
    o[3 * i + 2] = score;
  }
  return out;
}

}  // namespace posebatch
