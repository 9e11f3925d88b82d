// A tiny writer of Python pickles (protocol 0, ASCII), for the pickled attributes pandas
// stores in .h5 files. Values are built as a tree and serialised; nothing is ever read back.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace posebatch {

// Immutable value tree; safe to share.
class PyValue {
 public:
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kList, kTuple, kDict };

  static PyValue None() { return PyValue(Kind::kNone); }
  static PyValue Bool(bool v) {
    PyValue p(Kind::kBool);
    p.int_ = v;
    return p;
  }
  static PyValue Int(int64_t v) {
    PyValue p(Kind::kInt);
    p.int_ = v;
    return p;
  }
  static PyValue Float(double v) {
    PyValue p(Kind::kFloat);
    p.float_ = v;
    return p;
  }
  static PyValue Str(std::string s) {
    PyValue p(Kind::kStr);
    p.str_ = std::move(s);
    return p;
  }
  static PyValue List(std::vector<PyValue> items) {
    PyValue p(Kind::kList);
    p.items_ = std::move(items);
    return p;
  }
  static PyValue Tuple(std::vector<PyValue> items) {
    PyValue p(Kind::kTuple);
    p.items_ = std::move(items);
    return p;
  }
  // Keys and values alternate: {k0, v0, k1, v1, ...}; insertion order is kept.
  static PyValue Dict(std::vector<std::pair<PyValue, PyValue>> kv);

  // The protocol-0 pickle, ending with '.'.
  std::string Pickle0() const;

 private:
  explicit PyValue(Kind k) : kind_(k) {}
  void Write(std::string* out) const;

  Kind kind_;
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::vector<PyValue> items_;  // list/tuple items, or dict keys and values interleaved
};

}  // namespace posebatch
