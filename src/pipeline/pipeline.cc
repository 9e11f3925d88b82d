// RunPipeline: checks the run and hands it to its kind (runs/run_kinds.h).
#include "posebatch/pipeline.h"

#include "pipeline/runs/run_kinds.h"
#include "predict/pose_postprocessor.h"

namespace posebatch {

Status RunPipeline(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                   const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  if (pipeline.batch_size < 1) return Status::InvalidArgument("batch size must be >= 1");
  if (pipeline.num_slots < 1) return Status::InvalidArgument("number of batch slots must be >= 1");
  if (model.network == nullptr) return Status::InvalidArgument("model has no network");
  const ModeInputs inputs = ModeInputsOf(context);
  Status s = CheckModeInputs(model, inputs);
  if (!s.ok()) return s;
  for (const RunKind& kind : RunKinds()) {
    if (!kind.matches(model, inputs)) continue;
    s = kind.check(model, pipeline, preprocess);
    if (!s.ok()) return s;
    try {
      return kind.execute(model, source, writer, pipeline, preprocess, context, stats);
    } catch (...) {
      return StatusFromCurrentException();
    }
  }
  return Status::Internal(model.path + ": no run kind for this model");
}

ColumnLayout LayoutFor(const Model& model, const std::string& scorer, bool with_individuals) {
  ColumnLayout layout;
  layout.scorer = scorer;
  layout.bodyparts = model.spec.bodyparts;
  if (IsMultiAnimal(model.spec)) {
    layout.individuals = model.spec.individuals;
    layout.unique_bodyparts = model.spec.unique_bodyparts;
  } else if (with_individuals) {  // a single animal, under its one individual (image runs)
    layout.individuals = {model.spec.individuals.front()};
  }
  return layout;
}

}  // namespace posebatch
