#include "pipeline/kit/inference_thread.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

namespace posebatch {

InferenceThread& InferenceThread::Get() {
  // Never destroyed: the thread may still be parked in Loop() while the process exits.
  static InferenceThread* instance = new InferenceThread();
  return *instance;
}

InferenceThread::InferenceThread() : thread_([this] { Loop(); }) { thread_.detach(); }

void InferenceThread::Run(int intra_op_threads, const std::function<void()>& fn) {
  std::lock_guard<std::mutex> caller(callers_);
  std::unique_lock<std::mutex> lock(mu_);
  task_ = &fn;
  threads_ =
      intra_op_threads > 0 ? intra_op_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  done_ = false;
  error_ = nullptr;
  cv_.notify_all();
  cv_.wait(lock, [&] { return done_; });
  task_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void InferenceThread::Loop() {
  int current_threads = -1;
  while (true) {
    const std::function<void()>* task;
    int threads;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return task_ != nullptr && !done_; });
      task = task_;
      threads = threads_;
    }
    std::exception_ptr error;
    try {
      if (threads != current_threads) {
        at::set_num_threads(threads);
        current_threads = threads;
      }
      c10::InferenceMode guard;
      (*task)();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    error_ = error;
    done_ = true;
    cv_.notify_all();
  }
}

}  // namespace posebatch
