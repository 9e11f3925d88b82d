// The table of run kinds, and what each mode requires of its inputs (the one place those
// rules are written: RunPipeline, analyze and FramePredictor all ask CheckModeInputs).
#include "pipeline/runs/run_kinds.h"

#include <string>

namespace posebatch {
namespace {

bool IsBottomUp(const Model& m, const ModeInputs&) { return m.spec.method == Method::kBottomUp; }
bool IsTopDown(const Model& m, const ModeInputs&) { return m.spec.method == Method::kTopDown; }
bool IsCtd(const Model& m, const ModeInputs& in) {
  return m.spec.method == Method::kConditionalTopDown && !in.ctd_tracking;
}
bool IsCtdTracking(const Model& m, const ModeInputs& in) {
  return m.spec.method == Method::kConditionalTopDown && in.ctd_tracking;
}

Status AnyOptions(const Model&, const PipelineOptions&, const PreprocessOptions&) { return Status::OK(); }

// The crop runs cut crops from the whole frame.
Status NoFrameCrop(const Model& model, const PipelineOptions&, const PreprocessOptions& preprocess) {
  if (preprocess.crop.enabled()) {
    return Status::InvalidArgument(model.path + ": --crop is not supported with " + MethodName(model.spec.method) +
                                   " models yet");
  }
  return Status::OK();
}

std::string ThisOne(const Model& model) { return " (" + model.path + " is '" + MethodName(model.spec.method) + "')"; }

}  // namespace

const std::vector<RunKind>& RunKinds() {
  static const std::vector<RunKind> kinds = {
      {"bottom-up", IsBottomUp, AnyOptions, ExecuteBottomUpRun},
      {"top-down", IsTopDown, NoFrameCrop, ExecuteTopDownRun},
      {"CTD", IsCtd, NoFrameCrop, ExecuteCtdRun},
      {"CTD tracking", IsCtdTracking, NoFrameCrop, ExecuteCtdTrackingRun},
  };
  return kinds;
}

ModeInputs ModeInputsOf(const RunContext& context) {
  ModeInputs in;
  in.boxes = context.boxes != nullptr;
  in.conditions = context.conditions != nullptr;
  in.conditions_model = context.conditions_model != nullptr;
  in.ctd_tracking = context.ctd_tracking != nullptr;
  return in;
}

Status CheckModeInputs(const Model& model, const ModeInputs& in) {
  const Method method = model.spec.method;
  const bool ctd = method == Method::kConditionalTopDown;
  if ((in.conditions || in.conditions_model) && !ctd) {
    return Status::InvalidArgument("conditions (a file or a conditions model) apply to CTD models" + ThisOne(model));
  }
  if (in.ctd_tracking && !ctd) return Status::InvalidArgument("CTD tracking applies to CTD models" + ThisOne(model));
  if (in.boxes && method != Method::kTopDown) {
    return Status::InvalidArgument("boxes apply to top-down models" + ThisOne(model));
  }
  if (in.conditions && in.conditions_model) {
    return Status::InvalidArgument(model.path + ": give conditions from a file or from a conditions model, not both");
  }
  if (method == Method::kTopDown && !in.boxes && model.detector == nullptr) {
    const std::string why = model.detector_search.empty() ? "the export has none" : model.detector_search;
    return Status::InvalidArgument(model.path + ": a top-down model needs a detector (" + why +
                                   ") or boxes given with --boxes");
  }
  if (ctd && !in.conditions && !in.conditions_model) {
    return Status::InvalidArgument(model.path +
                                   ": a CTD model needs conditions: a predictions file (--conditions) or a "
                                   "bottom-up model (--conditions-model)");
  }
  return Status::OK();
}

}  // namespace posebatch
