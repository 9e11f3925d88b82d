#include "pipeline/kit/decode_stage.h"

#include "common/stopwatch.h"
#include "pipeline/kit/failure_latch.h"

namespace posebatch {

bool DecodeStage::Next(Frame* frame) {
  ScopedTimer t(busy_s_);
  try {
    if (!source_.Next(frame)) {
      end_ = source_.End();
      return false;
    }
  } catch (...) {
    const std::string where = last_index_ < 0
                                  ? "decode of the first frame of " + source_.info().path
                                  : "decode after frame " + std::to_string(last_index_) + " of " + source_.info().path;
    throw Error(WithContext(StatusFromCurrentException(StatusCode::kCorrupt), where));
  }
  last_index_ = frame->index;
  return true;
}

}  // namespace posebatch
