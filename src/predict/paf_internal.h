// Internals of the PAF predictor, exposed for tests and the benchmark: the PAF line integral
// of DeepLabCut's PartAffinityFieldPredictor.compute_edge_costs for one pair of peaks,
// restated in plain float32 arithmetic (see paf_predictor.cc for the exact operations), and
// the peak count. Free functions: thread-safe.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

#include "posebatch/model.h"

namespace posebatch {

// |integral of the field along the segment| / (segment length + eps), before DeepLabCut
// rounds it: peak cells (r0, c0) -> (r1, c1) inside an H x W map; field_x / field_y: the
// edge's two PAF channels of one image, row-major H x W.
float PafLineAffinityUnrounded(const float* field_x, const float* field_y, int64_t H, int64_t W, int64_t r0, int64_t c0,
                               int64_t r1, int64_t c1);

// torch.round(a * 1000) / 1000 in float32 (ties to even).
float RoundAffinity(float affinity);

// How many candidate peaks PredictPafPoses finds in a raw heatmap (B, K, H, W), all images
// and bodyparts together (what the grouping's cost grows with).
int64_t CountPafPeaks(const at::Tensor& heatmap, const PafPredictorSpec& spec);

}  // namespace posebatch
