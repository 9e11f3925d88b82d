// Predictors turn head outputs into keypoints. They never touch the network.
// Free functions of their inputs only: safe to call from several threads at once.
#pragma once

#include <ATen/Tensor.h>

#include "posebatch/model.h"

namespace posebatch {

// DeepLabCut's HeatmapPredictor (single animal): for each keypoint, the argmax cell (iy, ix)
// of its heatmap; x = ix*stride + stride/2 + dx*locref_std (same for y) with (dx, dy) from
// locref channels (2k, 2k+1); score = heatmap value there (after sigmoid if configured),
// clipped to [0, 1] if configured.
// heatmap: float32 (B, K, H, W); locref: float32 (B, 2K, H, W), or undefined when the head
// has no location refinement. Returns float32 (B, K, 3) = x, y, score in network-input pixels.
at::Tensor PredictHeatmapPoses(const at::Tensor& heatmap, const at::Tensor& locref,
                               const HeatmapHeadSpec& head);

// Checks that the outputs of `head` for a batch of `batch` rows are what the spec promises;
// throws Error (kModelError) with the expected and actual shapes otherwise.
void ValidateHeatmapOutputs(const HeadOutputs& outputs, const HeatmapHeadSpec& head,
                            int64_t batch);

}  // namespace posebatch
