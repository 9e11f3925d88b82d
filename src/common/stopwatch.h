// Monotonic timing helpers for per-stage accounting.
#pragma once

#include <chrono>

namespace posebatch {

// Not thread-safe; one per thread.
class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  double Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void Reset() { start_ = Clock::now(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

// Adds the lifetime of the scope to *sink (seconds).
class ScopedTimer {
 public:
  explicit ScopedTimer(double* sink) : sink_(sink) {}
  ~ScopedTimer() { *sink_ += watch_.Seconds(); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  double* sink_;
  Stopwatch watch_;
};

}  // namespace posebatch
