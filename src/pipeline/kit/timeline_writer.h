// The writer side of every run: rows true to the source's timeline (rows of NaN for lost
// frames), counted, with progress reports.
#pragma once

#include <string>
#include <vector>

#include "common/stopwatch.h"
#include "pipeline/kit/slot_pool.h"
#include "posebatch/pipeline.h"

namespace posebatch {

// Rows in order, each video frame at its timeline number, with a row of NaN for every number
// the source skipped (a frame it could not decode) and, at the end, for the numbers up to
// StreamEnd::timeline_end. Lost frames therefore never take a batch row or an inference. Not
// thread-safe: the run's one writer thread drives it.
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
