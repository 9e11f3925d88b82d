// The process-wide allocator settings for inference.
// Code: src/common/allocator.cc.
#pragma once

namespace posebatch {

// Process-wide allocator settings that keep freed tensor memory for reuse instead of
// returning it to the kernel after every batch (a large win for big networks on CPU). Call
// once at start-up, before starting threads. Not thread-safe.
void TuneAllocatorForInference();

}  // namespace posebatch
