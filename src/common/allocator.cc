// glibc returns large freed blocks to the kernel (mmap threshold, heap trimming), so every
// forward pass of a big network page-faults its activations back in: measured here as ~20% of
// ResNet-50's time at 640x480, most of it in the kernel. Keeping them in the heap removes that.
// glibc cannot keep blocks above 32 MiB (its largest mmap threshold): ResNet-50's activations
// at 640x480 are 157 MiB each at batch 8, and a batch-8 run page-faulted 180k times per frame
// (~0.7 GB of fresh zeroed pages). Those go through a cache of our own, below.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/heap_trace.h"
#include "posebatch/pipeline.h"

namespace posebatch {
namespace {

constexpr size_t kGlibcKeepsUpTo = size_t{32} << 20;  // glibc's largest M_MMAP_THRESHOLD

// CPU tensor memory of at least kGlibcKeepsUpTo bytes is kept after it is freed and handed out
// again for a request of exactly the same size (a network's forward pass asks for the same
// sizes every batch). Smaller requests go to LibTorch's own allocator. At most `limit_` bytes
// wait in the cache; beyond that, freed blocks go back to the kernel. Thread-safe.
class LargeBlockCache final : public c10::Allocator {
 public:
  LargeBlockCache(c10::Allocator* small, size_t limit) : small_(small), limit_(limit) {}

  c10::DataPtr allocate(size_t bytes) const override {
    if (bytes < kGlibcKeepsUpTo) return small_->allocate(bytes);
    void* data = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        data = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= bytes;
      }
    }
    if (data == nullptr) {
      data = c10::alloc_cpu(bytes);  // throws c10::Error when out of memory, as LibTorch's
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[data] = bytes;
    }
    return {data, data, &Release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Release; }

  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }

  static LargeBlockCache* instance;

 private:
  static void Release(void* data) { instance->Put(data); }

  void Put(void* data) const {
    std::unique_lock<std::mutex> lock(mu_);
    const auto known = sizes_.find(data);
    if (known == sizes_.end()) {
      // A small block handed out by raw_allocate (LibTorch frees those through raw_deleter()).
      lock.unlock();
      small_->raw_deleter()(data);
      return;
    }
    const size_t bytes = known->second;
    if (cached_bytes_ + bytes <= limit_) {
      free_[bytes].push_back(data);
      cached_bytes_ += bytes;
      return;
    }
    sizes_.erase(data);
    lock.unlock();
    c10::free_cpu(data);
  }

  c10::Allocator* small_;
  const size_t limit_;
  mutable std::mutex mu_;
  mutable std::map<size_t, std::vector<void*>> free_;  // by exact size
  mutable std::unordered_map<void*, size_t> sizes_;    // every block this cache handed out
  mutable size_t cached_bytes_ = 0;
};

LargeBlockCache* LargeBlockCache::instance = nullptr;

}  // namespace

size_t CachedTensorBytes() {
  return LargeBlockCache::instance == nullptr ? 0 : LargeBlockCache::instance->cached_bytes();
}

void TuneAllocatorForInference() {
  mallopt(M_MMAP_THRESHOLD, kGlibcKeepsUpTo);  // glibc's maximum: blocks up to 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);          // keep up to 1 GiB of freed heap for the next batch
  mallopt(M_TOP_PAD, 64 << 20);                // grow the heap in large steps
  // One arena: per-thread arenas are capped at 64 MiB heaps and ignore the settings above in
  // practice, so inference on a worker thread would page-fault again.
  mallopt(M_ARENA_MAX, 1);
  // Installed once and never destroyed: tensors freed during exit still find it.
  // POSEBATCH_NO_BLOCK_CACHE=1 leaves LibTorch's allocator alone (for comparisons).
  static std::once_flag once;
  const char* off = std::getenv("POSEBATCH_NO_BLOCK_CACHE");
  if (off != nullptr && std::string(off) == "1") return;
  std::call_once(once, [] {
    constexpr size_t kCacheLimit = size_t{4} << 30;  // more than a batch of 32 at 640x480 holds
    LargeBlockCache::instance = new LargeBlockCache(c10::GetCPUAllocator(), kCacheLimit);
    c10::SetCPUAllocator(LargeBlockCache::instance, /*priority=*/1);
  });
}

}  // namespace posebatch
