#include "pipeline/kit/batcher.h"

namespace posebatch {

bool Batcher::Add(RowRecord record, Row* row) {
  if (open_ != nullptr && open_->geometry != record.geometry) Close();  // sizes differ
  row->opened = open_ == nullptr;
  if (open_ == nullptr) {
    open_ = pool_.Acquire(next_, record.geometry);
    if (open_ == nullptr) return false;
  }
  row->slot = open_;
  row->row = pool_.AssignRow(open_, std::move(record));
  return true;
}

void Batcher::CloseIfFull() {
  if (open_ != nullptr && open_->rows_assigned == pool_.batch_size()) Close();
}

void Batcher::Close() {
  if (open_ == nullptr) return;
  pool_.Close(open_);
  open_ = nullptr;
  const int64_t closed = next_++;
  if (on_close_) on_close_(closed);
}

void Batcher::Finish() {
  Close();
  pool_.SetTotalBatches(next_);
}

}  // namespace posebatch
