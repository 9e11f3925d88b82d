// Hands items to one consumer in sequence order (0, 1, 2, ...) whatever order several
// producers finish them in, holding at most `window` items ahead of the consumer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

namespace posebatch {

// Thread-safe: any number of producers, one consumer. Producers that take their sequence
// numbers in order from a FIFO never deadlock: the one holding the consumer's next number is
// always inside the window.
template <typename T>
class ReorderBuffer {
 public:
  explicit ReorderBuffer(int64_t window) : window_(window > 0 ? window : 1) {}

  // Blocks while `seq` is `window` or more ahead of the consumer. Returns false (dropping
  // the item) if cancelled.
  bool Put(int64_t seq, T item) {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return seq < next_ + window_ || cancelled_; });
    if (cancelled_) return false;
    items_.emplace(seq, std::move(item));
    if (seq == next_) ready_.notify_all();
    return true;
  }

  // Blocks until the next item in sequence is there. Returns false once closed with nothing
  // left for the consumer, or cancelled.
  bool Take(T* item) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [&] { return cancelled_ || items_.count(next_) > 0 || (closed_ && items_.empty()); });
    auto it = items_.find(next_);
    if (cancelled_ || it == items_.end()) return false;
    *item = std::move(it->second);
    items_.erase(it);
    ++next_;
    room_.notify_all();
    return true;
  }

  // No more puts (every producer is done).
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ready_.notify_all();
  }

  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    items_.clear();
    ready_.notify_all();
    room_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::map<int64_t, T> items_;
  int64_t window_;
  int64_t next_ = 0;
  bool closed_ = false;
  bool cancelled_ = false;
};

}  // namespace posebatch
