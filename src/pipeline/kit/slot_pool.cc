#include "pipeline/kit/slot_pool.h"

namespace posebatch {

float* BatchSlot::RowData(int row) const {
  const int64_t row_floats = 3LL * geometry.height * geometry.width;
  return storage.data_ptr<float>() + row * row_floats;
}

at::Tensor BatchSlot::Input() const {
  const int64_t row_floats = 3LL * geometry.height * geometry.width;
  at::Tensor rows = storage.narrow(0, 0, rows_assigned * row_floats);
  if (layout == InputLayout::kNHWC) {
    return rows.view({rows_assigned, geometry.height, geometry.width, 3}).permute({0, 3, 1, 2});
  }
  return rows.view({rows_assigned, 3, geometry.height, geometry.width});
}

SlotPool::SlotPool(int num_slots, int batch_size, InputLayout layout, bool pinned)
    : slots_(num_slots > 0 ? num_slots : 1), batch_size_(batch_size > 0 ? batch_size : 1), pinned_(pinned) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].batch_id = static_cast<int64_t>(i);
    slots_[i].layout = layout;
    slots_[i].records.reserve(batch_size_);
  }
}

BatchSlot* SlotPool::Acquire(int64_t batch_id, const InputGeometry& geometry) {
  std::unique_lock<std::mutex> lock(mu_);
  BatchSlot& s = slots_[batch_id % slots_.size()];
  changed_.wait(lock, [&] { return cancelled_ || s.batch_id == batch_id; });
  if (cancelled_) return nullptr;
  s.geometry = geometry;
  s.rows_assigned = 0;
  s.rows_filled = 0;
  s.closed = false;
  s.records.clear();
  const int64_t needed = int64_t{batch_size_} * 3 * geometry.height * geometry.width;
  if (!s.storage.defined() || s.storage.numel() < needed) {
    lock.unlock();  // allocate outside the lock; nobody else touches this slot now
    at::Tensor t = at::empty({needed}, at::TensorOptions().dtype(at::kFloat).pinned_memory(pinned_));
    lock.lock();
    s.storage = std::move(t);
  }
  return &s;
}

int SlotPool::AssignRow(BatchSlot* slot, RowRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  slot->records.push_back(std::move(record));
  return slot->rows_assigned++;
}

void SlotPool::RowFilled(BatchSlot* slot) {
  std::lock_guard<std::mutex> lock(mu_);
  ++slot->rows_filled;
  if (Ready(*slot)) changed_.notify_all();
}

void SlotPool::Close(BatchSlot* slot) {
  std::lock_guard<std::mutex> lock(mu_);
  slot->closed = true;
  if (Ready(*slot)) changed_.notify_all();
}

void SlotPool::SetTotalBatches(int64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  total_batches_ = total;
  changed_.notify_all();
}

BatchSlot* SlotPool::WaitReady(int64_t batch_id) {
  std::unique_lock<std::mutex> lock(mu_);
  BatchSlot& s = slots_[batch_id % slots_.size()];
  changed_.wait(lock, [&] {
    return cancelled_ || (total_batches_ >= 0 && batch_id >= total_batches_) || (s.batch_id == batch_id && Ready(s));
  });
  if (cancelled_ || s.batch_id != batch_id || !Ready(s)) return nullptr;
  return &s;
}

void SlotPool::Release(BatchSlot* slot) {
  std::lock_guard<std::mutex> lock(mu_);
  slot->batch_id += static_cast<int64_t>(slots_.size());
  slot->closed = false;
  slot->rows_assigned = slot->rows_filled = 0;
  changed_.notify_all();
}

void SlotPool::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  changed_.notify_all();
}

}  // namespace posebatch
