// The decode end of every run: frames from the source, timed, and one error message for a
// decode that fails.
#pragma once

#include <string>

#include "posebatch/frame_source.h"

namespace posebatch {

// Not thread-safe: the run's decode thread drives it; end() is read after that thread joined.
class DecodeStage {
 public:
  // busy_s: where the seconds spent decoding are added.
  DecodeStage(FrameSource& source, double* busy_s) : source_(source), busy_s_(busy_s) {}

  // Decodes the next frame into *frame. False at the end of the stream, with the source's
  // end-of-stream report in end(). Throws Error (kCorrupt unless the source said otherwise)
  // naming the source and the last frame decoded.
  bool Next(Frame* frame);
  const StreamEnd& end() const { return end_; }

 private:
  FrameSource& source_;
  double* busy_s_;
  int64_t last_index_ = -1;
  StreamEnd end_;
};

}  // namespace posebatch
