// The table of run kinds (inference modes): RunPipeline picks the first whose `matches` holds,
// checks it, executes it. A new mode is one runs/*.cc file and one row of RunKinds().
#pragma once

#include <vector>

#include "posebatch/pipeline.h"

namespace posebatch {

struct RunKind {
  const char* name;  // for messages: "bottom-up", "top-down", "CTD", "CTD tracking"
  // Whether this kind runs `model` with `inputs`.
  bool (*matches)(const Model& model, const ModeInputs& inputs);
  // What the kind requires beyond CheckModeInputs: options it refuses. OK or InvalidArgument.
  Status (*check)(const Model& model, const PipelineOptions& pipeline, const PreprocessOptions& preprocess);
  // Runs it (both drivers: PipelineOptions::async). Errors as RunPipeline's.
  Status (*execute)(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                    const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);
};

// Every kind, in the order they are tried.
const std::vector<RunKind>& RunKinds();

// The kinds' execute functions, one per runs/*.cc file.
Status ExecuteBottomUpRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                          const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);
Status ExecuteTopDownRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                         const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);
Status ExecuteCtdRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                     const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);
Status ExecuteCtdTrackingRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                             const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);

}  // namespace posebatch
