// The threaded driver of a run: its stages on threads of their own, guarded so that the first
// failure is latched and cancels every other stage; and the thread settings stages take.
#pragma once

#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "pipeline/kit/failure_latch.h"

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

// The sequential driver's counterpart: `body` (every stage, in turn, on the calling thread)
// guarded the same way.
template <typename Body>
void RunInTurn(FailureLatch& latch, Body&& body) {
  try {
    body();
  } catch (...) {
    latch.FailWithCurrentException();
  }
}

// Decode and preprocessing need a few percent of a core; inference's OpenMP team needs all of
// them in lockstep (one preempted worker stalls the whole parallel region). A lower priority
// for the feeder threads lets them run in the gaps instead of preempting inference.
inline void LowerThreadPriority(int niceness) {
  if (niceness <= 0) return;
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), niceness);  // best effort
}

// ATen ops on the calling thread run single-threaded (OpenMP's thread count is per thread).
inline void UseOneIntraOpThread() {
  at::init_num_threads();
  at::set_num_threads(1);
}

}  // namespace posebatch
