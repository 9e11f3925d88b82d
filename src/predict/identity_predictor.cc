// DeepLabCut's identity readout for multi-animal bottom-up models with identity: true:
// IdentityPredictor (models/predictors/identity_predictor.py) and the bottom-up
// postprocessor's PredictKeypointIdentities and AssignIndividualIdentities
// (data/postprocessor.py, post_processing/identity.py), step for step.
#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <cmath>
#include <string>
#include <vector>

#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "predict/linear_assignment.h"

namespace posebatch {
namespace {

[[noreturn]] void Bad(const std::string& what) { throw Error(Status::ModelError(what)); }

// IdentityPredictor.forward: torchvision's resize to int(h * stride) x int(w * stride)
// (bilinear, antialias; an unchanged size is returned as is), then the sigmoid.
at::Tensor IdentityMaps(const at::Tensor& heatmap, const IdentityHeadSpec& spec) {
  const int64_t h = heatmap.size(2), w = heatmap.size(3);
  const auto h_in = static_cast<int64_t>(static_cast<double>(h) * spec.stride);
  const auto w_in = static_cast<int64_t>(static_cast<double>(w) * spec.stride);
  at::Tensor maps = heatmap;
  if (h_in != h || w_in != w) {
    maps = at::_upsample_bilinear2d_aa(heatmap, at::IntArrayRef{h_in, w_in}, /*align_corners=*/false, c10::nullopt);
  }
  if (spec.apply_sigmoid) maps = at::sigmoid(maps);
  return maps.permute({0, 2, 3, 1}).contiguous();  // (B, H, W, I)
}

}  // namespace

at::Tensor PredictIdentityScores(const at::Tensor& identity_heatmap, const at::Tensor& poses,
                                 const IdentityHeadSpec& spec) {
  if (!identity_heatmap.defined() || identity_heatmap.dim() != 4) {
    Bad("model output '" + spec.name + "/heatmap' must be (B, individuals, H, W)");
  }
  if (!poses.defined() || poses.dim() != 4 || poses.size(3) < 2 || poses.size(0) != identity_heatmap.size(0)) {
    Bad("identity head '" + spec.name + "': poses must be (B, animals, keypoints, >= 2) for the same batch");
  }
  if (!(spec.stride > 0)) Bad("identity head '" + spec.name + "': stride must be positive");
  const at::Tensor maps = IdentityMaps(identity_heatmap.to(at::kCPU, at::kFloat), spec);
  const at::Tensor xy = poses.to(at::kCPU, at::kFloat).contiguous();
  const int64_t B = xy.size(0), A = xy.size(1), K = xy.size(2), C = xy.size(3);
  const int64_t H = maps.size(1), W = maps.size(2), I = maps.size(3);
  at::Tensor scores = at::zeros({B, A, K, I}, at::kFloat);
  const float* m = maps.data_ptr<float>();
  const float* p = xy.data_ptr<float>();
  float* out = scores.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t a = 0; a < A; ++a) {
      for (int64_t k = 0; k < K; ++k) {
        const float* kp = p + ((b * A + a) * K + k) * C;
        // Keypoints with a non-finite coordinate keep zeros. Others: np.rint (ties to even,
        // as nearbyint in the default rounding mode), then clipped into the map; absent
        // animals (-1 rows) therefore read pixel (0, 0), as DeepLabCut's do.
        if (!std::isfinite(kp[0]) || !std::isfinite(kp[1])) continue;
        const auto x = static_cast<int64_t>(std::nearbyint(kp[0]));
        const auto y = static_cast<int64_t>(std::nearbyint(kp[1]));
        const int64_t cx = std::min(std::max<int64_t>(x, 0), W - 1), cy = std::min(std::max<int64_t>(y, 0), H - 1);
        const float* src = m + ((b * H + cy) * W + cx) * I;
        std::copy(src, src + I, out + ((b * A + a) * K + k) * I);
      }
    }
  }
  return scores;
}

at::Tensor AssignIdentityOrder(const at::Tensor& poses, const at::Tensor& identity_scores) {
  if (!poses.defined() || poses.dim() != 4 || poses.size(3) < 3 || !identity_scores.defined() ||
      identity_scores.dim() != 4 || identity_scores.sizes().slice(0, 3) != poses.sizes().slice(0, 3)) {
    Bad("AssignIdentityOrder: poses (B, A, K, >= 3) and identity scores (B, A, K, I) must agree");
  }
  const at::Tensor p = poses.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor s = identity_scores.to(at::kCPU, at::kFloat).contiguous();
  const int64_t B = p.size(0), A = p.size(1), K = p.size(2), C = p.size(3), I = s.size(3);
  const int64_t n = std::min(A, I);  // scipy assigns min(rows, cols) pairs
  at::Tensor order = at::zeros({B, n}, at::kLong);
  for (int64_t b = 0; b < B; ++b) {
    // cost[a, i] = np.mean(score * id_score, axis=1): float32 x float64 products summed in
    // float64 over keypoints in order (numpy reduces a non-contiguous axis sequentially).
    std::vector<double> cost(A * I, 0.0);
    const float* pb = p.data_ptr<float>() + b * A * K * C;
    const float* sb = s.data_ptr<float>() + b * A * K * I;
    for (int64_t a = 0; a < A; ++a) {
      for (int64_t i = 0; i < I; ++i) {
        double sum = 0;
        for (int64_t k = 0; k < K; ++k) {
          sum += static_cast<double>(pb[(a * K + k) * C + 2]) * static_cast<double>(sb[(a * K + k) * I + i]);
        }
        cost[a * I + i] = sum / static_cast<double>(K);
      }
    }
    const auto pairs = SolveLinearAssignment(cost, A, I, /*maximize=*/true);
    int64_t* o = order.data_ptr<int64_t>() + b * n;
    for (const auto& [row, col] : pairs) {
      // new_order[new_pos] = old_pos, new_order having min(A, I) entries: a column past its
      // end fails in DeepLabCut too (an IndexError).
      if (col >= n)
        Bad("identity assignment: animal " + std::to_string(row) + " goes to identity " + std::to_string(col) +
            ", past the " + std::to_string(n) + " predicted animals");
      o[col] = row;
    }
  }
  return order;
}

at::Tensor ReorderAnimals(const at::Tensor& t, const at::Tensor& order) {
  if (!t.defined() || t.dim() < 2 || order.dim() != 2 || order.size(0) != t.size(0)) {
    Bad("ReorderAnimals: a (B, A, ...) tensor and a (B, n) order are needed");
  }
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < t.size(0); ++b) rows.push_back(t[b].index_select(0, order[b].to(t.device())));
  return at::stack(rows);
}

}  // namespace posebatch
