// CTD tracking (RunContext::ctd_tracking): a frame's conditions are the previous frame's CTD
// poses, so the step from conditions to poses is serial. Decode still runs ahead and the writer
// behind; the crop stage becomes the tracker: per frame, the conditions source (the bottom-up
// model on a batch of this one frame, or the file) when the tracker asks for it, the crops, the
// CTD model on them (pose batches run as they close, on this thread), and the tracker's update,
// before the next frame.
#include "pipeline/runs/ctd_run.h"
#include "pipeline/runs/run_kinds.h"
#include "predict/ctd_tracking.h"

namespace posebatch {
namespace {

class CtdTrackingRun : public CtdRun {
 public:
  CtdTrackingRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
                 const PreprocessOptions& preprocess, const RunContext& context)
      : CtdRun(model, source, writer, options, preprocess, context), tracker_(*context.ctd_tracking) {}

 private:
  // One frame: conditions (tracks, merged with the source when it runs), the frame's crops
  // through the CTD model (batches of this frame's crops only), the tracker's update; the plan
  // carries the final poses to the writer. False: cancelled.
  bool CropStage(const DetectedFrame& d) override {
    const Frame& frame = *d.frame;
    FrameCues source;
    if (tracker_.BeginFrame() && !SourceConditions(d.frame, &source)) return false;
    FrameCues tracked;
    tracked.conditions = tracker_.Conditions(source.conditions);
    FramePlan plan;
    plan.record.index = frame.index;
    plan.record.label = frame.label;
    FrameCrops crops;
    PlanCrops(frame, tracked, &plan, &crops);
    std::vector<CropPose> poses;
    if (!RunCropsNow(frame, crops, &poses)) return false;
    {
      ScopedTimer t(&times_.postprocess);
      const at::Tensor stacked = StackCropPoses(plan, poses);
      plan.poses =
          tracker_.EndFrame(MapToFrame(plan, stacked, tracker_.rescore()).contiguous(), frame.width, frame.height);
    }
    return EmitPlan(std::move(plan));
  }

  // The frame's crops through the CTD model now (each pose batch runs as it closes), their poses
  // into *poses in crop order. False: cancelled, also when a batch was cancelled before it ran
  // (another stage failed), which leaves fewer poses than crops.
  bool RunCropsNow(const Frame& frame, const FrameCrops& crops, std::vector<CropPose>* poses) {
    inline_poses_ = poses;
    bool added = true;
    for (size_t i = 0; added && i < crops.plans.size(); ++i)
      added = AddCrop(frame, crops.plans[i], &crops.conditions[i]);
    if (added) CloseCropBatch();
    inline_poses_ = nullptr;
    return added && poses->size() == crops.plans.size();
  }

  // The file's conditions for the frame, or the bottom-up model's. False: cancelled.
  bool SourceConditions(Frame* frame, FrameCues* cues) {
    if (cues_ == nullptr) {
      cues->conditions = context_.conditions->ConditionsFor(frame->index, frame->label);
      return true;
    }
    return cues_->RunOne(frame, cues);
  }

  void AddStats(RunStats* stats) const override { stats->source_runs = tracker_.source_runs(); }

  CtdTracker tracker_;
};

}  // namespace

Status ExecuteCtdTrackingRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                             const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  CtdTrackingRun run(model, source, writer, pipeline, preprocess, context);
  return run.Execute(stats);
}

}  // namespace posebatch
