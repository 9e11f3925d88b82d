// Poses of crops from a top-down or CTD pose network: a SimCC head (RTMPose) decoded as SimCC
// vectors, a heatmap head (with or without locref) as DeepLabCut's top-down heatmaps; and the
// check that a batch's outputs are what the head promises. The crop runs' counterpart of
// pose_postprocessor.h (bottom-up).
#pragma once

#include <ATen/Tensor.h>

#include <string>

#include "posebatch/model.h"
#include "posebatch/predictor.h"

namespace posebatch {

// Immutable once built: safe to share between threads.
class CropPoseDecoder {
 public:
  explicit CropPoseDecoder(const ModelSpec& spec);

  // Throws Error (kModelError) when `outputs` of a batch of `rows` crops lack the head's
  // tensors or have the wrong shape.
  void Validate(const HeadOutputs& outputs, int rows) const;
  // float32 (rows, K, 3) = x, y, score in crop pixels, contiguous.
  at::Tensor Decode(const HeadOutputs& outputs) const;

 private:
  HeatmapHeadSpec head_;
  bool simcc_ = false;  // false: a heatmap head (ResNet, HRNet top-down and CTD HRNet variants)
  SimCCPredictorSpec simcc_spec_;
};

}  // namespace posebatch
