// Top-down: boxes from the model's detector (its own batched stage) or given per frame
// (RunContext::boxes); a crop per box, with context, as DeepLabCut's top_down_crop; the pose
// model on batches of crops; crop poses mapped back to the frame (DeepLabCut's top-down
// postprocessor). See crop_run.h for the stages.
#include "pipeline/kit/inference_thread.h"
#include "pipeline/runs/crop_run.h"
#include "pipeline/runs/run_kinds.h"
#include "predict/topdown_postprocess.h"

namespace posebatch {
namespace {

class TopDownRun : public CropRun {
 public:
  TopDownRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
             const PreprocessOptions& preprocess, const RunContext& context)
      : CropRun(model, source, writer, options, preprocess, context,
                context.boxes != nullptr ? nullptr : MakeDetectorCues(*model.detector)) {}

 private:
  FrameCues GivenCues(const Frame& frame) const override {
    FrameCues cues;
    cues.detections = context_.boxes->BoxesFor(frame.index, frame.label);
    return cues;
  }

  // A crop per box that leaves something to crop (DeepLabCut drops the others too).
  void PlanCrops(const Frame& frame, const FrameCues& cues, FramePlan* plan, FrameCrops* crops) override {
    const Detections& detections = cues.detections;
    const int64_t n = detections.boxes.defined() ? detections.boxes.size(0) : 0;
    if (n == 0) return;
    std::vector<bool> kept(static_cast<size_t>(n), false);
    const at::Tensor exact = detections.boxes.to(at::kDouble).contiguous();
    const double* b = exact.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) {
      try {
        crops->plans.push_back(PlanTopDownCrop({b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]}, frame.width,
                                               frame.height, crop_spec_));
        kept[static_cast<size_t>(i)] = true;
      } catch (const Error&) {
        continue;
      }
    }
    plan->crops = static_cast<int>(crops->plans.size());
    const at::Tensor boxes = detections.boxes.to(at::kFloat).contiguous();
    const at::Tensor scores = detections.scores.to(at::kFloat).contiguous();
    for (int64_t i = 0; i < n; ++i) {
      if (!kept[static_cast<size_t>(i)]) continue;
      plan->boxes.insert(plan->boxes.end(), boxes.data_ptr<float>() + i * 4, boxes.data_ptr<float>() + i * 4 + 4);
      plan->scores.push_back(i < scores.numel() ? scores.data_ptr<float>()[i] : 1.0f);
    }
    for (const auto& c : crops->plans) plan->transforms.push_back(c.transform);
  }

  HeadOutputs ForwardPose(BatchSlot* slot) override {
    HeadOutputs outputs;
    const at::Tensor input = slot->Input();
    InferenceThread::Get().Run(options_.intra_op_threads, [&] { outputs = model_.network->Forward(input); });
    return outputs;
  }

  at::Tensor MapToFrame(const FramePlan& plan, const at::Tensor& crop_poses, bool /*rescore*/) const override {
    return TopDownFramePoses(crop_poses, plan.transforms, static_cast<int>(individuals_));
  }
};

}  // namespace

Status ExecuteTopDownRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                         const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  TopDownRun run(model, source, writer, pipeline, preprocess, context);
  return run.Execute(stats);
}

}  // namespace posebatch
