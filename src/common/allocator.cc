// glibc returns large freed blocks to the kernel (mmap threshold, heap trimming), so every
// forward pass of a big network page-faults its activations back in: measured here as ~20% of
// ResNet-50's time at 640x480, most of it in the kernel. Keeping them in the heap removes that.
#include <malloc.h>

#include "posebatch/pipeline.h"

namespace posebatch {

void TuneAllocatorForInference() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum: blocks up to 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // keep up to 1 GiB of freed heap for the next batch
  mallopt(M_TOP_PAD, 64 << 20);         // grow the heap in large steps
  // One arena: per-thread arenas are capped at 64 MiB heaps and ignore the settings above in
  // practice, so inference on a worker thread would page-fault again.
  mallopt(M_ARENA_MAX, 1);
}

}  // namespace posebatch
