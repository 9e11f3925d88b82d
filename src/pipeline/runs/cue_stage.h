// The stage of a crop run that finds each frame's cues with a model (the detector's boxes, or
// the conditions model's poses for CTD): frames batched into its own slot pool, normalized,
// run in order on the InferenceThread, handed on with their cues in frame order.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/cues/frame_cues.h"
#include "pipeline/kit/batcher.h"
#include "pipeline/kit/inference_stage.h"
#include "pipeline/kit/slot_pool.h"
#include "preprocess/normalize.h"

namespace posebatch {

// A frame whose boxes (or conditions) are known, on its way to the crop stage.
struct DetectedFrame {
  Frame* frame = nullptr;
  FrameCues cues;
};

// Threaded: Add and CloseIfFull on the decode thread, Fill on a preprocess thread, RunAll on the
// inference thread. Sequential (and RunOne): every call on one thread; each batch runs as it
// closes and its frames go to `sink` at once.
class CueStage {
 public:
  struct Job {
    Frame* frame = nullptr;
    BatchSlot* slot = nullptr;
    int row = 0;
  };
  using Sink = std::function<bool(DetectedFrame)>;  // false: stop (downstream cancelled)

  // sequential_sink: set for the sequential driver (batches then run as they close).
  CueStage(std::unique_ptr<CueModel> model, const PipelineOptions& options, const PreprocessOptions& preprocess,
           const RunContext& context, const std::string& source_name, Sink sequential_sink = {});

  // Decode side: a row of the open batch for `frame`. False: cancelled.
  bool Add(Frame* frame, Job* job);
  void CloseIfFull() { batcher_.CloseIfFull(); }
  void Finish() { batcher_.Finish(); }
  // Preprocess side: the frame's pixels into its row.
  void Fill(const Job& job, double* busy);
  // Inference side (threaded): every batch, each frame to `sink`. False: a sink stopped it.
  bool RunAll(const Sink& sink);
  // CTD tracking: the cues of one frame, on a batch of that frame only. Undefined cues if
  // cancelled (returns false).
  bool RunOne(Frame* frame, FrameCues* cues);
  void Cancel() { pool_.Cancel(); }
  const StageTimes& times() const { return times_; }

 private:
  // The model on a batch of frames: one FrameCues per row, frames in row order.
  struct Found {
    std::vector<Frame*> frames;
    std::vector<FrameCues> cues;
  };
  Found Detect(BatchSlot* slot);
  static bool Hand(Found found, const Sink& sink);

  std::unique_ptr<CueModel> model_;
  const PipelineOptions options_;
  const PreprocessOptions preprocess_;
  const std::string name_;
  Normalizer normalizer_;
  SlotPool pool_;
  std::vector<std::vector<Frame*>> frames_;  // frame of each slot row, by batch % slots
  StageTimes times_;                         // preprocess, inference, inference_wait
  Sink sequential_sink_;
  InOrderBatches inference_;
  Batcher batcher_;
};

}  // namespace posebatch
