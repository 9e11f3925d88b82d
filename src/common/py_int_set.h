// CPython's set of small non-negative ints, for code that must iterate such sets in Python's
// order (DeepLabCut's assembler; networkx's orders in stitching). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace posebatch {

// An insert-only set of non-negative ints laid out as CPython's set object lays them out
// (hash(i) == i, 8 slots to start, 9 linear probes when they fit, then perturbed probing,
// resize to the next power of two above 4 x used when 5 x fill reaches 3 x mask), so that
// iterating it gives Python's order.
class PyIntSet {
 public:
  bool Contains(int64_t key) const { return table_[Probe(table_, key)] == key; }
  size_t size() const { return used_; }

  void Add(int64_t key) {
    const size_t slot = Probe(table_, key);
    if (table_[slot] == key) return;
    table_[slot] = key;
    ++used_;
    const size_t mask = table_.size() - 1;
    if (used_ * 5 >= mask * 3) Resize(used_ > 50000 ? used_ * 2 : used_ * 4);
  }

  // Keys in iteration (table) order.
  std::vector<int64_t> Keys() const {
    std::vector<int64_t> keys;
    for (int64_t k : table_)
      if (k != kEmpty) keys.push_back(k);
    return keys;
  }

 private:
  static constexpr int64_t kEmpty = -1;
  static constexpr size_t kLinearProbes = 9;
  static constexpr int kPerturbShift = 5;

  // The slot holding `key`, else the empty slot where it would be inserted.
  static size_t Probe(const std::vector<int64_t>& table, int64_t key) {
    const size_t mask = table.size() - 1;
    size_t perturb = static_cast<size_t>(key);
    size_t i = perturb & mask;
    while (true) {
      size_t probes = (i + kLinearProbes <= mask) ? kLinearProbes : 0;
      for (size_t j = i;; ++j) {
        if (table[j] == kEmpty || table[j] == key) return j;
        if (probes-- == 0) break;
      }
      perturb >>= kPerturbShift;
      i = (i * 5 + 1 + perturb) & mask;
    }
  }

  void Resize(size_t min_used) {
    size_t size = 8;
    while (size <= min_used) size <<= 1;
    std::vector<int64_t> table(size, kEmpty);
    for (int64_t k : table_)
      if (k != kEmpty) table[Probe(table, k)] = k;
    table_ = std::move(table);
  }

  std::vector<int64_t> table_ = std::vector<int64_t>(8, kEmpty);
  size_t used_ = 0;
};

}  // namespace posebatch
