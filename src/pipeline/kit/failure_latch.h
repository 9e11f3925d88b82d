// The one place a run's failures meet: the first failure of any stage, and the error context
// that names what the stage was doing.
#pragma once

#include <mutex>
#include <string>

#include "posebatch/status.h"

namespace posebatch {

// The first failure of any stage, and the switch that stops all the others. Thread-safe.
class FailureLatch {
 public:
  // Records `status` if it is the first failure, then calls `cancel_all` (once, by the first).
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
  // Records the exception being handled (call from a catch block), cancelling nothing.
  void FailWithCurrentException() {
    Fail(StatusFromCurrentException(), [] {});
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

// `s` with "context: " before its message, same code.
inline Status WithContext(const Status& s, const std::string& context) {
  return Status(s.code(), context + ": " + s.message());
}

// Throws Error(Cancelled) when the run was asked to stop: every stage loop calls it per item.
template <typename Context>
void ThrowIfStopRequested(const Context& context) {
  if (context.StopRequested()) throw Error(Status::Cancelled("interrupted"));
}

}  // namespace posebatch
