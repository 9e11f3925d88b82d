// DeepLabCut's SimCCPredictor (predictors/sim_cc.py, RTMPose): coordinate classification
// outputs -> keypoints. Free functions: safe to call from several threads.
#pragma once

#include <ATen/Tensor.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace posebatch {

struct SimCCPredictorSpec {
  double split_ratio = 2.0;  // simcc_split_ratio: bins per input pixel
  double sigma_x = 6.0, sigma_y = 6.0;
  double decode_beta = 150.0;
  bool apply_softmax = true;
  bool normalize_outputs = false;
};

// From a head's `predictor` block (type SimCCPredictor). Throws Error naming `origin`.
SimCCPredictorSpec ParseSimCCPredictor(const YAML::Node& predictor, const std::string& origin);

// x: float32 (B, K, Wx), y: (B, K, Wy) raw head outputs. Logits times sigma * decode_beta
// (float32), softmax per keypoint and axis (numpy float32: minus the max, exp, divided by the
// sum), first argmax per axis; score = min(max_x, max_y); locations -1 where the score is
// <= 1 / Wx (with softmax); then locations / split_ratio. Returns float32 (B, K, 3) = x, y,
// score in network-input pixels.
at::Tensor PredictSimCCPoses(const at::Tensor& x, const at::Tensor& y,
                             const SimCCPredictorSpec& spec);

}  // namespace posebatch
