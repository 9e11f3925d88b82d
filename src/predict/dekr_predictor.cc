// DeepLabCut's DEKRPredictor (predictors/dekr_predictor.py) with the same tensor operations,
// in the same order, so that the same LibTorch makes the same choices among equal values
// (torch.topk over masked heatmaps full of zeros, argmin over equal distances). Where
// DeepLabCut modifies its heatmaps in place (peak masking), this works on a copy and reads
// the masked copy wherever DeepLabCut reads the modified tensor.
#include <ATen/ATen.h>

#include <sstream>
#include <tuple>

#include "posebatch/predictor.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

constexpr int64_t kPeakWindow = 5;  // DeepLabCut's max_pool: MaxPool2d(5, 1, 2)

std::string ShapeText(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

void CheckShapes(const at::Tensor& heatmap, const at::Tensor& offset, const DekrPredictorSpec& spec) {
  const int64_t k = spec.num_keypoints;
  auto bad = [&](const char* name, const at::Tensor& t, const std::string& expected) {
    throw Error(Status::ModelError("model output '" + spec.name + "/" + name + "' has shape " +
                                   (t.defined() ? ShapeText(t) : "none") + ", expected " + expected));
  };
  if (!heatmap.defined() || heatmap.dim() != 4 || heatmap.size(1) != k + 1) {
    bad("heatmap", heatmap, "[B, " + std::to_string(k + 1) + " (keypoints + centre), H, W]");
  }
  const int64_t b = heatmap.size(0), h = heatmap.size(2), w = heatmap.size(3);
  if (!offset.defined() || offset.dim() != 4 || offset.size(0) != b || offset.size(1) != 2 * k || offset.size(2) != h ||
      offset.size(3) != w) {
    bad("offset", offset,
        "[" + std::to_string(b) + ", " + std::to_string(2 * k) + ", " + std::to_string(h) + ", " + std::to_string(w) +
            "]");
  }
  if (spec.num_animals < 1 || spec.num_animals > h * w) {
    throw Error(Status::ModelError("DEKR predictor: num_animals (" + std::to_string(spec.num_animals) +
                                   ") must be between 1 and the " + std::to_string(h * w) + " heatmap cells"));
  }
}

// Zeroes every value of `maps` (..., H, W) that is not the maximum of its 5x5 window, in place.
void KeepPeaks(at::Tensor maps) {
  constexpr int64_t r = kPeakWindow / 2;
  const at::Tensor pooled = at::max_pool2d(maps, {kPeakWindow, kPeakWindow}, {1, 1}, {r, r});
  maps.mul_(at::eq(pooled, maps).to(maps.scalar_type()));
}

// get_reg_poses: every cell (x, y) minus its offsets, (B, H * W, K, 2).
at::Tensor RegressedPoses(const at::Tensor& offset, int64_t k) {
  const int64_t b = offset.size(0), h = offset.size(2), w = offset.size(3);
  const at::Tensor off = offset.permute({0, 2, 3, 1}).reshape({b, h * w, k, 2});
  const auto grid = at::meshgrid({at::arange(h, at::kFloat), at::arange(w, at::kFloat)}, "ij");
  const at::Tensor locations = at::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, 1);
  return locations.view({1, h * w, 1, 2}) - off;
}

// _update_pose_with_heatmaps. Masks the keypoint heatmaps in place, as DeepLabCut does.
at::Tensor AbsorbIntoPeaks(const at::Tensor& poses, at::Tensor keypoint_maps, const DekrPredictorSpec& spec) {
  KeepPeaks(keypoint_maps);
  const int64_t b = keypoint_maps.size(0), k = keypoint_maps.size(1), w = keypoint_maps.size(3);
  const at::Tensor ind = std::get<1>(keypoint_maps.reshape({b, k, -1}).topk(spec.num_animals, 2));
  const at::Tensor x = ind.remainder(w);
  const at::Tensor y = at::div(ind, w).to(at::kLong);  // Python's (ind / w).long()
  const at::Tensor peaks = at::stack({x, y}, 3);       // (B, K, A, 2)
  const at::Tensor dist = at::linalg_vector_norm(poses.unsqueeze(3) - peaks.unsqueeze(1), 2, {-1});  // (B, A, K, A)
  const at::Tensor nearest = dist.argmin(-1);
  const at::Tensor absorb = dist.gather(3, nearest.unsqueeze(-1)).squeeze(-1) < spec.max_absorb_distance;
  const auto longs = at::TensorOptions().dtype(at::kLong);
  const at::Tensor chosen =
      peaks.index({at::arange(b, longs).view({-1, 1, 1}), at::arange(k, longs).view({1, 1, -1}), nearest});
  return at::where(absorb.unsqueeze(-1), chosen.to(poses.scalar_type()), poses);
}

// get_heat_value: keypoint heatmap value at the floored, clamped position, (B, A, K).
at::Tensor HeatValue(const at::Tensor& poses, const at::Tensor& heatmaps, int64_t k) {
  const int64_t h = heatmaps.size(2), w = heatmaps.size(3);
  const at::Tensor maps = heatmaps.narrow(1, 0, k).flatten(2, 3);
  const at::Tensor x = at::clamp(at::floor(poses.select(3, 0)), 0, w - 1).to(at::kLong);
  const at::Tensor y = at::clamp(at::floor(poses.select(3, 1)), 0, h - 1).to(at::kLong);
  return maps.gather(2, (y * w + x).transpose(-2, -1)).transpose(-2, -1);
}

// pose_nms on (B, A, K, 3) poses sorted by centre score.
at::Tensor SuppressDuplicates(at::Tensor poses, double threshold) {
  const int64_t b = poses.size(0), a = poses.size(1), k = poses.size(2);
  const at::Tensor xy = poses.narrow(3, 0, 2);
  const at::Tensor xs = xy.select(3, 0), ys = xy.select(3, 1);
  const at::Tensor w = xs.amax(-1) - xs.amin(-1), h = ys.amax(-1) - ys.amin(-1);
  const at::Tensor size = at::clamp_min(w * w + h * h, 1).unsqueeze(1).unsqueeze(3).expand({b, a, a, k});
  const at::Tensor dist = (xy.unsqueeze(2) - xy.unsqueeze(1)).pow(2).sum(-1).sqrt();  // (B, A, A, K)
  const at::Tensor close = (dist < at::sqrt(size) * threshold).sum(-1) > threshold;   // (B, A, A)
  const at::Tensor later = at::triu(at::ones({a, a}), 1).to(at::kBool);
  const at::Tensor kept = (close & later.unsqueeze(0)).any(1).logical_not();  // (B, A)
  const at::Tensor order = kept.to(at::kFloat) + (at::arange(a, at::kFloat) + 1) / (a + 1);
  const at::Tensor sorted = std::get<1>(order.sort(1, /*descending=*/true));
  poses.index_put_({kept.logical_not()}, -1);
  return poses.index({at::arange(b, at::kLong).unsqueeze(1), sorted});
}

}  // namespace

at::Tensor PredictDekrPoses(const at::Tensor& heatmap_in, const at::Tensor& offset_in, const DekrPredictorSpec& spec) {
  CheckShapes(heatmap_in, offset_in, spec);
  const at::Tensor offset = offset_in.to(at::kFloat);
  at::Tensor heatmaps = spec.apply_sigmoid ? at::sigmoid(heatmap_in.to(at::kFloat)) : heatmap_in.to(at::kFloat).clone();
  const int64_t b = heatmaps.size(0), k = spec.num_keypoints, h = heatmaps.size(2), w = heatmaps.size(3);
  const int64_t a = spec.num_animals;

  // get_top_values: centre peaks, masked in place.
  at::Tensor centre = heatmaps.select(1, k);
  KeepPeaks(centre);
  at::Tensor centre_scores, seeds;
  std::tie(centre_scores, seeds) = centre.reshape({b, h * w}).topk(a, 1);

  at::Tensor poses = RegressedPoses(offset, k).index({at::arange(b, at::kLong).unsqueeze(1), seeds});  // (B, A, K, 2)
  if (spec.use_heatmap) poses = AbsorbIntoPeaks(poses, heatmaps.narrow(1, 0, k), spec);

  at::Tensor score;
  const at::Tensor centre_score = centre_scores.unsqueeze(-1).expand({b, a, k}).unsqueeze(-1);
  if (spec.keypoint_score_type == "center") {
    score = centre_score;
  } else if (spec.keypoint_score_type == "heatmap") {
    score = HeatValue(poses, heatmaps, k).unsqueeze(-1);
  } else if (spec.keypoint_score_type == "combined") {
    score = centre_score * HeatValue(poses, heatmaps, k).unsqueeze(-1);
  } else {
    throw Error(Status::ModelError("DEKR predictor: unknown keypoint_score_type '" + spec.keypoint_score_type + "'"));
  }
  const double s = spec.stride;
  const at::Tensor x = poses.select(3, 0) * s + 0.5 * s, y = poses.select(3, 1) * s + 0.5 * s;
  if (spec.clip_scores) score = at::clamp(score, 0, 1);
  at::Tensor out = at::cat({x.unsqueeze(-1), y.unsqueeze(-1), score}, 3);
  if (spec.apply_pose_nms) out = SuppressDuplicates(out, spec.nms_threshold);
  return out.contiguous();
}

}  // namespace posebatch
