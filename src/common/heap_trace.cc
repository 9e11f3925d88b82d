#include "common/heap_trace.h"

#include <H5public.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace posebatch {
namespace {

const char* TracePath() {
  static const char* const path = std::getenv("POSEBATCH_HEAP_TRACE");  // read once
  return path != nullptr && *path != '\0' ? path : nullptr;
}

}  // namespace

void TraceHeap(const char* event, int64_t count, bool release_free_lists) {
  const char* path = TracePath();
  if (path == nullptr) return;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (release_free_lists) H5garbage_collect();
  const struct mallinfo2 m = mallinfo2();
  const long long live = static_cast<long long>(m.uordblks + m.hblkhd) - static_cast<long long>(CachedTensorBytes());
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%s %lld %lld\n", event, static_cast<long long>(count), live);
    std::fclose(f);
  }
}

}  // namespace posebatch
