// DeepLabCut's top-down postprocessor (data/postprocessor.py, build_top_down_postprocessor):
// the poses predicted in each crop, in the order of the boxes, mapped back to the frame
// (RescaleAndOffset, KEYPOINT_TD), then padded with -1 rows up to the number of individuals
// (PadOutputs). The boxes are reported as they were given (AddContextToOutput), padded with -1
// the same way. Nothing is re-ordered, trimmed or re-scored for top-down; scores are the
// predictor's (HeatmapPredictor clips them to [0, 1] with clip_scores).
// Free functions of their inputs: safe to call from several threads.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <vector>

#include "preprocess/topdown_crop.h"

namespace posebatch {

// crop_poses: float32 (n, K, 3) = x, y, score in crop pixels, one row per box, in box order.
// Returns float32 (max(n, max_individuals), K, 3) in frame pixels: x * scale + offset computed
// in float64 and stored as float32 (as DeepLabCut's numpy does), rows n.. filled with -1.
// More boxes than individuals keep all their rows (DeepLabCut does not trim them either).
at::Tensor TopDownFramePoses(const at::Tensor& crop_poses, const std::vector<CropTransform>& transforms,
                             int max_individuals);

// The boxes as DeepLabCut reports them (final_bboxes): float64 (max(n, max_individuals), 4),
// x, y, w, h, rows n.. filled with -1.
at::Tensor TopDownFrameBoxes(const std::vector<std::array<double, 4>>& boxes, int max_individuals);

}  // namespace posebatch
