// A streaming writer of Python pickles (protocol 3), for outputs too large to hold in memory:
// values are emitted as they come, straight into a file. Includes numpy arrays, pickled the way
// numpy pickles them (numpy.core.multiarray._reconstruct + ndarray state), so that
// pickle.load gives real ndarrays.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace posebatch {

// Not thread-safe. Errors are sticky: ok() turns false on the first failed write.
class PickleStream {
 public:
  explicit PickleStream(std::FILE* file);  // does not take ownership

  // Protocol header; call once first. End() writes the STOP opcode and flushes the buffer.
  // Protocol 4 lets a global name a class's attribute ("MultiIndex.from_arrays").
  void Begin(int protocol = 3);
  void End();

  void None();
  void Bool(bool v);
  void Int(int64_t v);
  void Float(double v);
  void Str(const std::string& s);
  void Strings(const std::vector<std::string>& v);  // a list of str
  void Ints(const std::vector<int64_t>& v);         // a list of int

  // Containers: open, then items (dict: key, value, key, value...), then close.
  void BeginDict();  // an empty dict followed by a MARK for its items
  void EndDict();    // SETITEMS
  void MoreItems();  // MARK: more items for the dict EndDict() just closed (streamed dicts)
  void BeginList();
  void EndList();
  void BeginTuple();  // MARK
  void EndTuple();    // TUPLE

  // A call: the global module.name applied to the tuple of what follows, up to Call().
  void BeginCall(const char* module, const char* name);  // GLOBAL + MARK
  void Call();                                           // TUPLE + REDUCE

  // A numpy.int64 scalar (numpy.core.multiarray.scalar(dtype('int64'), raw bytes)).
  void NumpyInt64(int64_t v);

  // A C-order numpy array of float32 ("f4") or float64 ("f8") values.
  void Array(const std::vector<int64_t>& shape, const float* data);
  void Array(const std::vector<int64_t>& shape, const double* data);

  bool ok() const { return ok_; }

 private:
  void Op(char op) { buffer_.push_back(op); }
  void U32(uint32_t v);
  void Raw(const void* data, size_t n);
  void Global(const char* module, const char* name);
  void ArrayOf(const std::vector<int64_t>& shape, const char* dtype, const void* data, size_t bytes);
  void Dtype(const char* code);
  void FlushIfLarge();

  std::FILE* file_;
  std::string buffer_;
  bool ok_ = true;
};

}  // namespace posebatch
