// The analysis pipeline: decode -> preprocess -> batch -> infer -> postprocess -> write.
//
// Asynchronous mode runs one decode thread, N preprocess workers, one inference thread and
// one postprocess+write thread, joined by bounded queues. Frames are written once, straight
// into a row of a preallocated batch slot; a fixed pool of slots bounds memory whatever the
// video length; rows are written in input order. The first failure in any stage cancels the
// others and is the one Status returned.
// Code: src/pipeline/ (pipeline.cc; the modes in src/pipeline/runs/, their parts in src/pipeline/kit/;
//   autotune.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "posebatch/allocator.h"
#include "posebatch/box_file.h"
#include "posebatch/condition_file.h"
#include "posebatch/detector.h"
#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/options.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch {

// Seconds each stage spent working (summed over its threads).
struct StageTimes {
  double decode = 0;          // FrameSource::Next
  double preprocess = 0;      // normalize into slot rows
  double inference_wait = 0;  // inference thread idle, waiting for a full slot
  double inference = 0;       // Network::Forward
  double postprocess = 0;     // predictor + coordinate mapping
  double write = 0;           // PoseWriter::Append
};

// A run of frame numbers [first, last] that could not be decoded (written as rows of NaN).
struct LostRange {
  int64_t first = 0;
  int64_t last = 0;
};

struct RunStats {
  int64_t frames = 0;           // frames analysed and written
  int64_t lost_frames = 0;      // rows of NaN written for frames that could not be decoded
  std::vector<LostRange> lost;  // where, in frame order
  StreamEnd stream;             // the source's end-of-stream report (damage counters)
  int64_t batches = 0;          // forward passes (top-down: of the pose model)
  int64_t crops = 0;            // top-down: crops given to the pose model
  int64_t source_runs = -1;     // CTD tracking: frames the conditions source ran on (-1: not tracking)
  double wall_seconds = 0;
  StageTimes busy;
};

struct Progress {
  int64_t frames_done = 0;
  int64_t frames_total = -1;  // -1 when the source cannot tell
  double elapsed_seconds = 0;
};

// Called from the writer thread after each batch is written; must be cheap.
using ProgressCallback = std::function<void(const Progress&)>;

struct RunContext {
  ProgressCallback on_progress;                   // may be empty
  const std::atomic<bool>* cancel = nullptr;      // set to stop early (e.g. Ctrl-C)
  const std::atomic<bool>* stop = nullptr;        // a second such flag (a graceful stop's: analyze.h)
  const BoxProvider* boxes = nullptr;             // top-down: replaces the model's detector
  const ConditionProvider* conditions = nullptr;  // CTD: condition poses per frame
  // CTD: a bottom-up model run in the same pipeline (frames batched by
  // PipelineOptions::detector_batch_size) whose poses are the conditions. Owned by the caller;
  // used by the run's inference thread only.
  Model* conditions_model = nullptr;
  // CTD: track (each frame's poses are the next frame's conditions; `conditions` or
  // `conditions_model` starts the tracks and is run again by these rules); null = no tracking.
  const CtdTrackingOptions* ctd_tracking = nullptr;

  // Whether either flag is set: the run stops as if cancelled.
  bool StopRequested() const {
    return (cancel != nullptr && cancel->load(std::memory_order_relaxed)) ||
           (stop != nullptr && stop->load(std::memory_order_relaxed));
  }
};

// What a run is given beside its frames, as far as the mode depends on it.
struct ModeInputs {
  bool boxes = false;             // boxes per frame (RunContext::boxes)
  bool conditions = false;        // CTD condition poses per frame (RunContext::conditions)
  bool conditions_model = false;  // CTD: a bottom-up conditions model (RunContext::conditions_model)
  bool ctd_tracking = false;      // CTD tracking (RunContext::ctd_tracking)
};
ModeInputs ModeInputsOf(const RunContext& context);

// Whether `model` can run with `inputs`: InvalidArgument naming the model and what it lacks
// (a top-down model without a detector or boxes, a CTD model without conditions) or what does
// not apply to it (boxes, conditions, tracking). RunPipeline checks this; callers that load
// inputs first (analyze, FramePredictor) call it before loading them. Thread-safe.
Status CheckModeInputs(const Model& model, const ModeInputs& inputs);

// Runs `model` over every frame of `source`, appending one row per frame to `writer` in input
// order. Rows follow the source's timeline: a frame number the source skipped (a frame that
// could not be decoded), or that lies between its last frame and StreamEnd::timeline_end, is
// written as a row of NaN and counted in RunStats::lost. Does not Commit or Abort the writer: the caller decides.
// Thread-safety: one call at a time per Model (the network is not re-entrant).
Status RunPipeline(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                   const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats);

// --batch-size auto: times Network::Forward on (width x height) inputs for each candidate
// batch size (after a warm-up) with `intra_op_threads` threads (0 = all cores), on a thread
// of its own as the pipeline's inference stage runs, and returns the size with the best
// frames per second. On CPU small batches usually win; on a GPU, large ones. Costs a few
// forward passes. Not thread-safe with respect to `model` (one caller at a time).
int ChooseBatchSize(Model& model, int width, int height, const std::vector<int>& candidates, int intra_op_threads,
                    std::string* report);

// The layout of the rows RunPipeline writes for `model`: with the individuals level (and
// unique bodyparts) for multi-animal models, as DeepLabCut writes them; single-animal models
// get an individuals level (their one individual) only when `with_individuals` is set.
ColumnLayout LayoutFor(const Model& model, const std::string& scorer, bool with_individuals);

}  // namespace posebatch
