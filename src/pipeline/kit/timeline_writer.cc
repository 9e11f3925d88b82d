#include "pipeline/kit/timeline_writer.h"

#include <algorithm>
#include <limits>

#include "common/heap_trace.h"
#include "pipeline/kit/failure_latch.h"

namespace posebatch {

TimelineWriter::TimelineWriter(PoseWriter& writer, const SourceInfo& source, size_t num_columns,
                               const RunContext& context)
    : writer_(writer),
      source_(source),
      context_(context),
      name_(source.path),
      nan_row_(num_columns, std::numeric_limits<float>::quiet_NaN()),
      next_index_(source.first_index) {}

void TimelineWriter::Append(const RowRecord& record, const float* values, const std::vector<float>* boxes,
                            const std::vector<float>* box_scores) {
  if (record.label.empty()) WriteLostRows(record.index);  // videos: rows stay true to the timeline
  try {
    if (boxes != nullptr) writer_.AppendBoxes(*boxes, *box_scores);
    writer_.Append(record.index, record.label, values);
  } catch (...) {
    throw Error(WithContext(StatusFromCurrentException(StatusCode::kIOError),
                            "writing frame " + std::to_string(record.index) + " of " + name_));
  }
  ++frames_written_;
  next_index_ = record.index + 1;
  if (frames_written_ % 100 == 0) TraceHeap("frames", frames_written_, /*release_free_lists=*/false);
}

void TimelineWriter::WriteLostRows(int64_t stop) {
  if (stop <= next_index_) return;
  for (int64_t index = next_index_; index < stop; ++index) {
    try {
      writer_.Append(index, std::string(), nan_row_.data());
    } catch (...) {
      throw Error(WithContext(StatusFromCurrentException(StatusCode::kIOError),
                              "writing frame " + std::to_string(index) + " of " + name_));
    }
  }
  lost_.push_back(LostRange{next_index_, stop - 1});
  lost_frames_ += stop - next_index_;
  next_index_ = stop;
}

void TimelineWriter::Finish(const StreamEnd& end) {
  if (source_.is_video && end.timeline_end >= 0) WriteLostRows(end.timeline_end);
}

void TimelineWriter::ReportProgress() {
  if (context_.on_progress) {
    context_.on_progress(Progress{frames_written_ + lost_frames_, source_.to_deliver, clock_.Seconds()});
  }
}

void TimelineWriter::FillStats(RunStats* stats) const {
  stats->frames = frames_written_;
  stats->lost_frames = lost_frames_;
  stats->lost = lost_;
}

}  // namespace posebatch
