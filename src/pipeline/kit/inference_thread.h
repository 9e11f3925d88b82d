// The one long-lived thread on which every forward pass of the process runs.
//
// Why one thread for the whole process: LibTorch's intra-op pool (an OpenMP team) belongs to
// the thread that starts it, and glibc gives each new thread a fresh heap arena, so the first
// forward on a new thread pays for creating the team and faulting in every activation buffer
// (over a second for ResNet-50 at batch 32 here). Keeping one inference thread warm across
// batches, videos and pipeline runs makes every forward as fast as a steady-state one, and
// serializes inference on the CPU, where two concurrent forwards would only fight for cores.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace posebatch {

// Thread-safe: callers are served one at a time, in no particular order.
class InferenceThread {
 public:
  // The process-wide instance (started on first use, never stopped).
  static InferenceThread& Get();

  // Runs `fn` on the inference thread with `intra_op_threads` LibTorch threads (0 = all cores)
  // and waits for it; an exception thrown by `fn` is rethrown here.
  void Run(int intra_op_threads, const std::function<void()>& fn);

 private:
  InferenceThread();
  void Loop();

  std::mutex callers_;  // one caller at a time
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* task_ = nullptr;
  int threads_ = 0;
  bool done_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace posebatch
