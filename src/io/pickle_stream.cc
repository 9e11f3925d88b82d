#include "io/pickle_stream.h"

#include <cstring>

namespace posebatch {
namespace {

// Pickle opcodes (Python's Lib/pickle.py).
constexpr char kProto = '\x80', kStop = '.', kMark = '(', kNone = 'N', kTrue = '\x88', kFalse = '\x89';
constexpr char kBinInt = 'J', kLong1 = '\x8a', kBinFloat = 'G', kBinUnicode = 'X', kBinBytes = 'B';
constexpr char kEmptyDict = '}', kSetItems = 'u', kEmptyList = ']', kAppends = 'e', kTuple = 't';
constexpr char kGlobal = 'c', kReduce = 'R', kBuild = 'b';

}  // namespace

PickleStream::PickleStream(std::FILE* file) : file_(file) {}

void PickleStream::Begin(int protocol) {
  Op(kProto);
  Op(static_cast<char>(protocol));
}

void PickleStream::BeginCall(const char* module, const char* name) {
  Global(module, name);
  BeginTuple();
}

void PickleStream::Call() {
  EndTuple();
  Op(kReduce);
}

// numpy's scalar pickling: scalar(dtype, raw bytes), the dtype as ArrayOf writes it.
void PickleStream::NumpyInt64(int64_t v) {
  BeginCall("numpy.core.multiarray", "scalar");
  Dtype("i8");
  Op(kBinBytes);
  U32(8);
  for (int i = 0; i < 8; ++i) buffer_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  Call();
}

void PickleStream::End() {
  Op(kStop);
  if (!buffer_.empty() && ok_) ok_ = std::fwrite(buffer_.data(), 1, buffer_.size(), file_) == buffer_.size();
  buffer_.clear();
}

void PickleStream::FlushIfLarge() {
  if (buffer_.size() < (1u << 20)) return;
  if (ok_) ok_ = std::fwrite(buffer_.data(), 1, buffer_.size(), file_) == buffer_.size();
  buffer_.clear();
}

void PickleStream::U32(uint32_t v) {
  for (int i = 0; i < 4; ++i) buffer_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));  // little-endian
}

void PickleStream::Raw(const void* data, size_t n) {
  if (n > 0) buffer_.append(static_cast<const char*>(data), n);  // data may be null when n is 0
}

void PickleStream::None() { Op(kNone); }
void PickleStream::Bool(bool v) { Op(v ? kTrue : kFalse); }

void PickleStream::Int(int64_t v) {
  if (v >= INT32_MIN && v <= INT32_MAX) {
    Op(kBinInt);
    U32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    return;
  }
  Op(kLong1);  // 8 bytes, two's complement, little-endian
  buffer_.push_back('\x08');
  for (int i = 0; i < 8; ++i) buffer_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
}

void PickleStream::Float(double v) {
  Op(kBinFloat);  // big-endian IEEE 754
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  for (int i = 7; i >= 0; --i) buffer_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void PickleStream::Str(const std::string& s) {
  Op(kBinUnicode);
  U32(static_cast<uint32_t>(s.size()));
  Raw(s.data(), s.size());
}

void PickleStream::Strings(const std::vector<std::string>& v) {
  BeginList();
  for (const auto& s : v) Str(s);
  EndList();
}

void PickleStream::Ints(const std::vector<int64_t>& v) {
  BeginList();
  for (int64_t i : v) Int(i);
  EndList();
}

void PickleStream::BeginDict() {
  Op(kEmptyDict);
  Op(kMark);
}
void PickleStream::EndDict() {
  Op(kSetItems);
  FlushIfLarge();
}
void PickleStream::MoreItems() { Op(kMark); }
void PickleStream::BeginList() {
  Op(kEmptyList);
  Op(kMark);
}
void PickleStream::EndList() { Op(kAppends); }
void PickleStream::BeginTuple() { Op(kMark); }
void PickleStream::EndTuple() { Op(kTuple); }

void PickleStream::Global(const char* module, const char* name) {
  Op(kGlobal);
  buffer_ += module;
  buffer_ += '\n';
  buffer_ += name;
  buffer_ += '\n';
}

// What numpy's ndarray.__reduce__ produces:
//   _reconstruct(ndarray, (0,), b'b') then __setstate__((1, shape, dtype, False, raw bytes)),
// with dtype pickled as dtype(code, False, True) + __setstate__((3, '<', None, None, None, -1, -1, 0)).
void PickleStream::ArrayOf(const std::vector<int64_t>& shape, const char* dtype, const void* data, size_t bytes) {
  Global("numpy.core.multiarray", "_reconstruct");
  BeginTuple();
  Global("numpy", "ndarray");
  BeginTuple();
  Int(0);
  EndTuple();
  Op(kBinBytes);
  U32(1);
  buffer_.push_back('b');
  EndTuple();
  Op(kReduce);
  BeginTuple();  // state
  Int(1);
  BeginTuple();
  for (int64_t d : shape) Int(d);
  EndTuple();
  Dtype(dtype);
  Bool(false);  // not Fortran order
  Op(kBinBytes);
  U32(static_cast<uint32_t>(bytes));
  Raw(data, bytes);
  EndTuple();
  Op(kBuild);
}

// dtype(code, False, True) + __setstate__((3, '<', None, None, None, -1, -1, 0)).
void PickleStream::Dtype(const char* code) {
  Global("numpy", "dtype");
  BeginTuple();
  Str(code);
  Bool(false);
  Bool(true);
  EndTuple();
  Op(kReduce);
  BeginTuple();
  Int(3);
  Str("<");
  None();
  None();
  None();
  Int(-1);
  Int(-1);
  Int(0);
  EndTuple();
  Op(kBuild);
}

static size_t Count(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

void PickleStream::Array(const std::vector<int64_t>& shape, const float* data) {
  ArrayOf(shape, "f4", data, Count(shape) * sizeof(float));
}

void PickleStream::Array(const std::vector<int64_t>& shape, const double* data) {
  ArrayOf(shape, "f8", data, Count(shape) * sizeof(double));
}

}  // namespace posebatch
