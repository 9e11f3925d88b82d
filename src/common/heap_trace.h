// A test hook for leak checks: with $POSEBATCH_HEAP_TRACE naming a file, TraceHeap appends one
// line "<event> <count> <bytes>" to it, where bytes is the heap that live allocations hold
// (glibc's mallinfo2: arena bytes in use + mmapped blocks), less the freed tensor blocks that
// TuneAllocatorForInference's cache keeps for reuse. Peak RSS moves by tens of MiB between
// runs with no leak (heap fragmentation, thread timing); this counts what a leak changes.
// Without the variable, TraceHeap costs one load of a cached flag. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace posebatch {

// `event`: what was counted ("input": inputs finished, "frames": rows written in this run).
// `release_free_lists`: first let HDF5 return its free lists (only between inputs: HDF5 is not
// called from two threads).
void TraceHeap(const char* event, int64_t count, bool release_free_lists);

// Bytes of freed tensor memory the large-block cache holds for reuse (allocator.cc).
size_t CachedTensorBytes();

}  // namespace posebatch
