// The in-order inference loop every run has (threaded: the inference stage's thread;
// sequential: the driver running each batch as it closes), and the error context of a batch.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/stopwatch.h"
#include "pipeline/kit/failure_latch.h"
#include "pipeline/kit/slot_pool.h"
#include "posebatch/pipeline.h"

namespace posebatch {

// "first..last" frame numbers of a batch's rows, for error messages.
inline std::string FramesOf(const std::vector<RowRecord>& records) {
  return std::to_string(records.front().index) + ".." + std::to_string(records.back().index);
}

// Runs `fn` (a batch's model call); an error becomes kModelError (unless it has a code)
// "<what> frames <first..last> of <source>: ...".
template <typename Fn>
void GuardBatch(const std::string& what, const BatchSlot& slot, const std::string& source, Fn&& fn) {
  try {
    fn();
  } catch (...) {
    throw Error(WithContext(StatusFromCurrentException(StatusCode::kModelError),
                            what + " frames " + FramesOf(slot.records) + " of " + source));
  }
}

// Batches 0, 1, 2, ... of a pool, in order: wait for the batch, check for a stop, infer,
// release the slot, hand the result on. Not thread-safe: one thread drives it.
class InOrderBatches {
 public:
  // wait_s: where the seconds spent waiting for a full batch are added (threaded runs).
  InOrderBatches(SlotPool& pool, const RunContext& context, double* wait_s)
      : pool_(pool), context_(context), wait_s_(wait_s) {}

  // Threaded: every batch until the end of the stream (or a cancel). `infer(BatchSlot*)`
  // returns the batch's result; `push(result)` hands it on, false if downstream stopped.
  // Returns false if a push stopped it.
  template <typename Infer, typename Push>
  bool RunAll(Infer&& infer, Push&& push) {
    while (true) {
      BatchSlot* slot;
      {
        ScopedTimer t(wait_s_);
        slot = pool_.WaitReady(next_);
      }
      if (slot == nullptr) return true;
      if (!RunSlot(slot, infer, push)) return false;
    }
  }

  // Sequential: the batches numbered below `closed` that have not run yet (all filled).
  template <typename Infer, typename Push>
  bool RunUpTo(int64_t closed, Infer&& infer, Push&& push) {
    while (next_ < closed) {
      BatchSlot* slot = pool_.WaitReady(next_);
      if (slot == nullptr) return false;
      if (!RunSlot(slot, infer, push)) return false;
    }
    return true;
  }

 private:
  template <typename Infer, typename Push>
  bool RunSlot(BatchSlot* slot, Infer& infer, Push& push) {
    ThrowIfStopRequested(context_);
    auto result = infer(slot);
    pool_.Release(slot);
    ++next_;
    return push(std::move(result));
  }

  SlotPool& pool_;
  const RunContext& context_;
  double* wait_s_;
  int64_t next_ = 0;
};

}  // namespace posebatch
