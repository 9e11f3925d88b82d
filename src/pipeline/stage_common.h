// What every pipeline run shares: the failure latch, error context, thread priorities.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ATen/Parallel.h>

#include <mutex>
#include <string>

#include "posebatch/status.h"

namespace posebatch {

// The first failure of any stage, and the switch that stops all the others.
// Thread-safe.
class FailureLatch {
 public:
  template <typename CancelFn>
  void Fail(Status status, CancelFn&& cancel_all) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_) return;
      failed_ = true;
      first_ = std::move(status);
    }
    cancel_all();
  }
  bool failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }
  Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  bool failed_ = false;
  Status first_;
};

inline Status WithContext(const Status& s, const std::string& context) {
  return Status(s.code(), context + ": " + s.message());
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
