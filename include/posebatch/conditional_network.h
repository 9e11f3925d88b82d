// Networks that take conditions besides the image: DeepLabCut's conditional top-down (CTD)
// models, whose backbone (CondPreNet) encodes each crop's condition pose into K heatmap
// channels and adds them to the image features.
// Code: src/model/native/cond_prenet.cc.
#pragma once

#include <ATen/Tensor.h>

#include "posebatch/model.h"

namespace posebatch {

// A Network whose Forward needs conditions: the single-input Forward throws Error
// (kInvalidArgument). Not thread-safe: one inference thread owns it.
class ConditionalNetwork : public Network {
 public:
  // batch: float32 (B, 3, H, W) normalized crops, in input_layout(); conditions: float32
  // (B, K, 3) = x, y, score per condition keypoint, in crop pixels (DeepLabCut's cond_kpts after
  // ConditionalKeypointsToModelInputs). Returns head outputs on the CPU, contiguous.
  virtual HeadOutputs Forward(const at::Tensor& batch, const at::Tensor& conditions) = 0;
  HeadOutputs Forward(const at::Tensor& batch) override;
  // K: the condition keypoints per crop the network expects.
  virtual int64_t num_conditions() const = 0;
};

}  // namespace posebatch
