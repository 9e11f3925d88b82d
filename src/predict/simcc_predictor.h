// DeepLabCut's SimCCPredictor (predictors/sim_cc.py, RTMPose): coordinate classification
// outputs -> keypoints. Free functions: safe to call from several threads.
#pragma once

#include <ATen/Tensor.h>

#include <string>

#include "posebatch/model.h"

namespace posebatch {

// x: float32 (B, K, Wx), y: (B, K, Wy) raw head outputs. Logits times sigma * decode_beta
// (float32), softmax per keypoint and axis (numpy float32: minus the max, exp, divided by the
// sum), first argmax per axis; score = min(max_x, max_y); locations -1 where the score is
// <= 1 / Wx (with softmax); then locations / split_ratio. Returns float32 (B, K, 3) = x, y,
// score in network-input pixels.
at::Tensor PredictSimCCPoses(const at::Tensor& x, const at::Tensor& y, const SimCCPredictorSpec& spec);

}  // namespace posebatch
