#include "pipeline/runs/ctd_run.h"

#include <algorithm>

#include "pipeline/kit/inference_thread.h"
#include "pipeline/runs/run_kinds.h"
#include "preprocess/ctd_conditions.h"

namespace posebatch {
namespace {

std::unique_ptr<CueModel> CtdCues(Model& model, const RunContext& context) {
  if (context.conditions != nullptr) return nullptr;
  return MakeBottomUpConditionCues(*context.conditions_model, static_cast<int64_t>(model.spec.bodyparts.size()));
}

}  // namespace

CtdRun::CtdRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
               const PreprocessOptions& preprocess, const RunContext& context)
    : CropRun(model, source, writer, options, preprocess, context, CtdCues(model, context)),
      conditional_(dynamic_cast<ConditionalNetwork*>(model.network.get())),
      bbox_margin_(model.spec.bbox_margin) {
  if (conditional_ == nullptr) throw Error(Status::InvalidArgument(model.path + ": not a conditional network"));
  if (conditional_->num_conditions() != keypoints_) {
    throw Error(
        Status::ModelError(model.path + ": the network takes " + std::to_string(conditional_->num_conditions()) +
                           " condition keypoints, the config has " + std::to_string(keypoints_) + " bodyparts"));
  }
  for (int s = 0; s < pose_slots(); ++s) {
    slot_conditions_.push_back(at::zeros({options.batch_size, keypoints_, 3}, at::kFloat));
  }
}

FrameCues CtdRun::GivenCues(const Frame& frame) const {
  FrameCues cues;
  cues.conditions = context_.conditions->ConditionsFor(frame.index, frame.label);
  return cues;
}

// DeepLabCut's preparation of the frame's conditions (filtering, boxes, crops).
void CtdRun::PlanCrops(const Frame& frame, const FrameCues& cues, FramePlan* plan, FrameCrops* crops) {
  const at::Tensor& given = cues.conditions;
  if (!given.defined() || given.size(0) == 0) return;
  if (given.dim() != 3 || given.size(1) != keypoints_ || given.size(2) != 3) {
    throw Error(Status::InvalidArgument("conditions for frame " + std::to_string(frame.index) + " of " + name_ +
                                        " are not (n, " + std::to_string(keypoints_) + ", 3)"));
  }
  const at::Tensor c = given.to(at::kFloat).contiguous();
  plan->ctd =
      PrepareCtdCrops(c.data_ptr<float>(), c.size(0), keypoints_, frame.width, frame.height, bbox_margin_, crop_spec_);
  plan->crops = static_cast<int>(plan->ctd.size());
  for (const CtdCrop& crop : plan->ctd) {
    crops->plans.push_back(crop.plan);
    crops->conditions.push_back(crop.conditions);
    plan->transforms.push_back(crop.plan.transform);
    for (double v : crop.box) plan->boxes.push_back(static_cast<float>(v));
    plan->scores.push_back(0.f);  // CTD boxes have no score (the writers leave it out)
  }
}

void CtdRun::WriteConditions(int64_t batch, int row, const std::vector<float>& conditions) {
  float* dst = SlotConditions(batch).data_ptr<float>() + row * keypoints_ * 3;
  std::copy(conditions.begin(), conditions.end(), dst);
}

HeadOutputs CtdRun::ForwardPose(BatchSlot* slot) {
  HeadOutputs outputs;
  const at::Tensor input = slot->Input();
  const at::Tensor conditions = SlotConditions(slot->batch_id).narrow(0, 0, slot->rows_assigned);
  InferenceThread::Get().Run(options_.intra_op_threads, [&] { outputs = conditional_->Forward(input, conditions); });
  return outputs;
}

at::Tensor CtdRun::MapToFrame(const FramePlan& plan, const at::Tensor& crop_poses, bool rescore) const {
  return CtdFramePoses(crop_poses, plan.ctd, static_cast<int>(individuals_), rescore);
}

Status ExecuteCtdRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                     const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  CtdRun run(model, source, writer, pipeline, preprocess, context);
  return run.Execute(stats);
}

}  // namespace posebatch
