// What the bottom-up run (pipeline.cc) and the top-down / CTD run (topdown_pipeline.cc) share:
// the stage threads and the one place their failures meet, and the writer side that keeps rows
// true to the source's timeline (rows of NaN for lost frames), counts them and reports progress.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/stopwatch.h"
#include "pipeline/slot_pool.h"
#include "pipeline/stage_common.h"
#include "posebatch/pipeline.h"

namespace posebatch {

// The threads of one run. Each body runs guarded: an exception is recorded in the latch (the
// first one only) and cancels every stage through `cancel_all`. Not thread-safe: the run's
// own thread starts and joins them.
class StageThreads {
 public:
  StageThreads(FailureLatch& latch, std::function<void()> cancel_all)
      : latch_(latch), cancel_all_(std::move(cancel_all)) {}
  ~StageThreads() { JoinAll(); }
  StageThreads(const StageThreads&) = delete;
  StageThreads& operator=(const StageThreads&) = delete;

  void Start(std::function<void()> body) {
    threads_.emplace_back([this, body = std::move(body)] {
      try {
        body();
      } catch (...) {
        latch_.Fail(StatusFromCurrentException(), cancel_all_);
      }
    });
  }
  void JoinAll() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  FailureLatch& latch_;
  std::function<void()> cancel_all_;
  std::vector<std::thread> threads_;
};

// The writer side of a run: rows in order, each video frame at its timeline number, with a row
// of NaN for every number the source skipped (a frame it could not decode) and, at the end, for
// the numbers up to StreamEnd::timeline_end. Lost frames therefore never take a batch row or an
// inference. Not thread-safe: the run's one writer thread drives it.
class TimelineWriter {
 public:
  TimelineWriter(PoseWriter& writer, const SourceInfo& source, size_t num_columns, const RunContext& context);

  // Writes `values` (num_columns floats) as the row of `record`, after the lost rows before
  // it (videos); `boxes` (top-down, CTD: x, y, w, h each, and their scores) go with that row.
  // Errors name the frame and the source.
  void Append(const RowRecord& record, const float* values, const std::vector<float>* boxes = nullptr,
              const std::vector<float>* box_scores = nullptr);
  // The rows of NaN from the next expected number up to `stop` (exclusive).
  void WriteLostRows(int64_t stop);
  // After every stage has joined: the trailing lost rows of a video whose container declares
  // more frames than could be decoded.
  void Finish(const StreamEnd& end);
  // Frames done so far, to the run's progress callback (if any).
  void ReportProgress();
  // Frames written, lost frames and their ranges.
  void FillStats(RunStats* stats) const;
  int64_t frames_written() const { return frames_written_; }

 private:
  PoseWriter& writer_;
  const SourceInfo& source_;
  const RunContext& context_;
  std::string name_;
  std::vector<float> nan_row_;
  Stopwatch clock_;
  int64_t frames_written_ = 0;
  int64_t next_index_ = 0;  // frame number the next row stands for (videos)
  int64_t lost_frames_ = 0;
  std::vector<LostRange> lost_;
};

}  // namespace posebatch
