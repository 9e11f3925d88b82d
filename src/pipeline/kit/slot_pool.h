// A fixed ring of preallocated batch tensors ("slots"). Batch b always uses slot b % K, so
// batches complete and run in order without a reorder buffer, and K bounds memory.
//
// Lifecycle of one slot for batch b:
//   decoder:  Acquire(b) -> AssignRow() x n -> Close()      (n <= batch size)
//   workers:  write pixels into RowData(row) -> RowFilled()
//   inference: WaitReady(b) -> Forward(Input()) -> Release()  (slot now belongs to b + K)
#pragma once

#include <ATen/ATen.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "preprocess/normalize.h"

namespace posebatch {

// What the writer needs to know about a row once its pixels are gone.
struct RowRecord {
  int64_t index = -1;      // frame number / image position
  std::string label;       // image path (image runs)
  InputGeometry geometry;  // how to map predictions back
};

struct BatchSlot {
  int64_t batch_id = -1;                    // the batch that owns the slot
  InputGeometry geometry;                   // shared by every row of the batch
  int rows_assigned = 0;                    // rows handed to preprocess workers
  int rows_filled = 0;                      // rows whose pixels are written
  bool closed = false;                      // no more rows will be assigned
  InputLayout layout = InputLayout::kNCHW;  // memory order of each row
  std::vector<RowRecord> records;           // one per assigned row
  at::Tensor storage;                       // flat float32, capacity for a full batch

  float* RowData(int row) const;  // start of row `row` (3*H*W floats)
  // View (rows_assigned, 3, H, W) of storage, channels-last for kNHWC: no copy.
  at::Tensor Input() const;
};

// Thread-safe.
class SlotPool {
 public:
  // pinned: page-locked storage, so that host-to-GPU copies of a batch run asynchronously.
  SlotPool(int num_slots, int batch_size, InputLayout layout = InputLayout::kNCHW, bool pinned = false);

  // Blocks until the slot for `batch_id` is free, then prepares it for `geometry` (growing its
  // storage only if needed). Returns nullptr if cancelled.
  BatchSlot* Acquire(int64_t batch_id, const InputGeometry& geometry);
  // Reserves the next row of an acquired slot and records what it holds; returns the row.
  int AssignRow(BatchSlot* slot, RowRecord record);
  void RowFilled(BatchSlot* slot);
  void Close(BatchSlot* slot);
  // No batch numbered >= total will ever be acquired.
  void SetTotalBatches(int64_t total);
  // Blocks until batch `batch_id` is fully written. nullptr at the end of the stream or if
  // cancelled.
  BatchSlot* WaitReady(int64_t batch_id);
  void Release(BatchSlot* slot);
  void Cancel();

  int batch_size() const { return batch_size_; }

 private:
  bool Ready(const BatchSlot& s) const { return s.closed && s.rows_filled == s.rows_assigned; }

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<BatchSlot> slots_;
  int batch_size_;
  bool pinned_ = false;
  int64_t total_batches_ = -1;
  bool cancelled_ = false;
};

}  // namespace posebatch
