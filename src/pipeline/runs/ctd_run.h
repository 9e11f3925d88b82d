// Conditional top-down (CTD): condition poses per frame from a bottom-up model (its own batched
// stage) or given (RunContext::conditions); DeepLabCut's CTD preparation (filtering, boxes from
// the conditions, conditions in crop pixels, written into a (B, K, 3) conditions tensor beside
// each pose slot); the conditional pose network (conditions passed with the batch); CTD
// rescoring on the way back. See crop_run.h for the stages; ctd_tracking_run.cc builds on it.
#pragma once

#include <vector>

#include "pipeline/runs/crop_run.h"
#include "posebatch/conditional_network.h"

namespace posebatch {

class CtdRun : public CropRun {
 public:
  CtdRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
         const PreprocessOptions& preprocess, const RunContext& context);

 protected:
  FrameCues GivenCues(const Frame& frame) const override;
  void PlanCrops(const Frame& frame, const FrameCues& cues, FramePlan* plan, FrameCrops* crops) override;
  void WriteConditions(int64_t batch, int row, const std::vector<float>& conditions) override;
  HeadOutputs ForwardPose(BatchSlot* slot) override;
  at::Tensor MapToFrame(const FramePlan& plan, const at::Tensor& crop_poses, bool rescore) const override;

 private:
  at::Tensor& SlotConditions(int64_t batch) {
    return slot_conditions_[static_cast<size_t>(batch % static_cast<int64_t>(slot_conditions_.size()))];
  }

  ConditionalNetwork* conditional_ = nullptr;
  double bbox_margin_ = 20;
  std::vector<at::Tensor> slot_conditions_;  // (B, K, 3) beside each pose slot, by batch % slots
};

}  // namespace posebatch
