// Rows into the batches of a SlotPool, in order (the one copy of open / close on a geometry
// change / acquire / assign a row / close when full that every run's producer needs).
#pragma once

#include <cstdint>
#include <functional>

#include "pipeline/kit/slot_pool.h"

namespace posebatch {

// Batch numbers count up from 0. A batch closes when asked, when it is full (CloseIfFull,
// called once its last row is assigned) or when a row of another geometry comes. Not
// thread-safe: the run's one producer thread drives it.
class Batcher {
 public:
  struct Row {
    BatchSlot* slot = nullptr;
    int row = 0;          // the row of `slot` the record was given
    bool opened = false;  // the row opened a new batch
  };

  // on_close(batch): called after each batch closes; the sequential drivers run the batch
  // there (with one slot, the next Acquire would otherwise wait for ever).
  explicit Batcher(SlotPool& pool, std::function<void(int64_t)> on_close = {})
      : pool_(pool), on_close_(std::move(on_close)) {}

  // Gives `record` the next row, closing the open batch first when its geometry differs from
  // the record's and acquiring a slot when none is open. False: cancelled.
  bool Add(RowRecord record, Row* row);
  // Closes the open batch when every row of it is assigned.
  void CloseIfFull();
  // Closes the open batch, if any.
  void Close();
  // Close(), then tells the pool that no batch numbered next_batch() or higher will come.
  void Finish();

  bool open() const { return open_ != nullptr; }
  BatchSlot* open_slot() const { return open_; }
  // The open batch's number, or the next one's: the number of batches closed so far.
  int64_t next_batch() const { return next_; }

 private:
  SlotPool& pool_;
  std::function<void(int64_t)> on_close_;
  BatchSlot* open_ = nullptr;
  int64_t next_ = 0;
};

}  // namespace posebatch
