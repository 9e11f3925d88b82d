// Top-down analysis on the asynchronous pipeline: one decode pass; a detector stage batching
// frames (or boxes given per frame); a crop stage writing each box's crop straight into a row
// of a pose batch (batches count crops, and a frame's crops may span two batches); pose
// inference; a writer that gathers each frame's crops and writes rows in frame order.
#pragma once

#include "posebatch/detector.h"
#include "posebatch/pipeline.h"

namespace posebatch {

// RunPipeline's top-down branch (Method::kTopDown). Boxes come from
// `context.boxes` when set, else from `model.detector`.
Status RunTopDownPipeline(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
                          const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);

}  // namespace posebatch
