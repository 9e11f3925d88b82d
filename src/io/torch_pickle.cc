#include "io/torch_pickle.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "io/zip_archive.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

using Type = PyObject::Type;

PyRef Make(Type t) {
  auto p = std::make_shared<PyObject>();
  p->type = t;
  return p;
}

// Storage classes torch.save names, and their element types.
bool StorageDtype(const std::string& global, at::ScalarType* out) {
  static const std::pair<const char*, at::ScalarType> kTable[] = {
      {"torch.FloatStorage", at::kFloat},       {"torch.DoubleStorage", at::kDouble}, {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong},     {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},       {"torch.CharStorage", at::kChar},     {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
  };
  for (const auto& [name, dtype] : kTable) {
    if (global == name) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

// The allow-list: what torch.load(weights_only=True) accepts, less what DeepLabCut never uses.
// numpy's pickling of arrays, dtypes and scalars (numpy 1 and 2 module names).
bool IsNumpyGlobal(const std::string& g) {
  static const char* kNumpy[] = {
      "numpy.core.multiarray._reconstruct",
      "numpy._core.multiarray._reconstruct",
      "numpy.ndarray",
      "numpy.dtype",
      "numpy.core.multiarray.scalar",
      "numpy._core.multiarray.scalar",
      "numpy.core.numeric._frombuffer",
      "numpy._core.numeric._frombuffer",
  };
  for (const char* a : kNumpy)
    if (g == a) return true;
  return false;
}

// numpy type strings (kind + item size) and their tensor types.
bool NumpyDtype(const std::string& name, at::ScalarType* out) {
  static const std::pair<const char*, at::ScalarType> kTable[] = {
      {"f4", at::kFloat}, {"f8", at::kDouble}, {"f2", at::kHalf}, {"i8", at::kLong}, {"i4", at::kInt},
      {"i2", at::kShort}, {"i1", at::kChar},   {"u1", at::kByte}, {"b1", at::kBool},
  };
  for (const auto& [n, dtype] : kTable) {
    if (name == n) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

// pandas' pickled indexes (the "header" of DeepLabCut's tracklet pickles): the rebuild function
// and the two classes it is given. Nothing of pandas runs: the index becomes its state dict.
bool IsPandasIndexGlobal(const std::string& g) {
  return g == "pandas.core.indexes.base._new_Index" || g == "pandas.core.indexes.multi.MultiIndex" ||
         g == "pandas.core.indexes.base.Index" || g == "pandas.MultiIndex.from_arrays";
}

bool Allowed(const std::string& g, const PickleLimits& limits) {
  at::ScalarType unused;
  if (StorageDtype(g, &unused)) return true;
  if (limits.numpy && IsNumpyGlobal(g)) return true;
  if (limits.numpy && limits.pandas_index && IsPandasIndexGlobal(g)) return true;
  static const char* kAllowed[] = {
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",
      "torch.Size",
      "_codecs.encode",
      "builtins.set",
      "builtins.frozenset",
      "builtins.bytearray",
      "torch.device",
  };
  for (const char* a : kAllowed)
    if (g == a) return true;
  return false;
}

class Unpickler {
 public:
  Unpickler(std::string_view bytes, std::string name, std::shared_ptr<ZipArchive> archive, std::string prefix,
            PickleLimits limits)
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())),
        end_(p_ + bytes.size()),
        name_(std::move(name)),
        archive_(std::move(archive)),
        prefix_(std::move(prefix)),
        limits_(limits) {}

  // The pickle machine: one case per opcode, in one switch (hence its length).
  PyRef Run() {  // NOLINT(readability-function-size)
    while (true) {
      const uint8_t op = U8();
      switch (op) {
        case 0x80:
          U8();
          break;  // PROTO
        case 0x95:
          Bytes(8);
          break;     // FRAME (protocol 4): ignore framing
        case '.': {  // STOP
          if (stack_.size() != 1 || !marks_.empty()) Bad("unbalanced stack at STOP");
          return stack_.back();
        }
        case '(':
          marks_.push_back(stack_.size());
          break;  // MARK
        case 'N':
          Push(Make(Type::kNone));
          break;
        case 0x88:
          Push(Bool(true));
          break;  // NEWTRUE
        case 0x89:
          Push(Bool(false));
          break;  // NEWFALSE
        case 'J':
          Push(Int(static_cast<int32_t>(LE(4))));
          break;  // BININT
        case 'K':
          Push(Int(U8()));
          break;  // BININT1
        case 'M':
          Push(Int(static_cast<int64_t>(LE(2))));
          break;  // BININT2
        case 0x8a:
          Push(Long(U8()));
          break;  // LONG1
        case 0x8b:
          Push(Long(Checked(LE(4))));
          break;     // LONG4
        case 'G': {  // BINFLOAT (big-endian)
          uint64_t v = 0;
          for (uint8_t c : Bytes(8)) v = (v << 8) | c;
          double d;
          std::memcpy(&d, &v, 8);
          auto o = Make(Type::kFloat);
          o->f = d;
          Push(o);
          break;
        }
        case 'X':
          Push(Str(Type::kStr, Checked(LE(4))));
          break;  // BINUNICODE
        case 0x8c:
          Push(Str(Type::kStr, U8()));
          break;  // SHORT_BINUNICODE
        case 0x8d:
          Push(Str(Type::kStr, Checked(LE(8))));
          break;  // BINUNICODE8
        case 'T':
          Push(Str(Type::kBytes, Checked(LE(4))));
          break;  // BINSTRING
        case 'U':
          Push(Str(Type::kBytes, U8()));
          break;  // SHORT_BINSTRING
        case 'B':
          Push(Str(Type::kBytes, Checked(LE(4))));
          break;  // BINBYTES
        case 'C':
          Push(Str(Type::kBytes, U8()));
          break;    // SHORT_BINBYTES
        case 0x8e:  // BINBYTES8
        case 0x96:  // BYTEARRAY8 (protocol 5's in-band buffers: numpy arrays)
          Push(Str(Type::kBytes, Checked(LE(8))));
          break;
        case '}':
          Push(Make(Type::kDict));
          break;  // EMPTY_DICT
        case ']':
          Push(Make(Type::kList));
          break;  // EMPTY_LIST
        case ')':
          Push(Make(Type::kTuple));
          break;     // EMPTY_TUPLE
        case 't': {  // TUPLE
          auto t = Make(Type::kTuple);
          t->items = PopToMark();
          for (const auto& item : t->items) Adopt(t, item);
          Push(t);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          if (stack_.size() < n + Base()) Bad("stack underflow");
          auto t = Make(Type::kTuple);
          t->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          for (const auto& item : t->items) Adopt(t, item);
          Push(t);
          break;
        }
        case 'l': {  // LIST
          auto l = Make(Type::kList);
          l->items = PopToMark();
          for (const auto& item : l->items) Adopt(l, item);
          Push(l);
          break;
        }
        case 'd': {  // DICT
          auto items = PopToMark();
          if (items.size() % 2) Bad("odd number of dict items");
          auto d = Make(Type::kDict);
          for (size_t i = 0; i < items.size(); i += 2) SetItem(d, items[i], items[i + 1]);
          Push(d);
          break;
        }
        case 'a': {  // APPEND
          PyRef v = Pop();
          PyRef list = Mutable(Type::kList);
          Adopt(list, v);
          list->items.push_back(v);
          CheckSize(list->items.size());
          break;
        }
        case 'e': {  // APPENDS
          auto items = PopToMark();
          PyRef list = Mutable(Type::kList);
          for (const auto& item : items) Adopt(list, item);
          list->items.insert(list->items.end(), items.begin(), items.end());
          CheckSize(list->items.size());
          break;
        }
        case 's': {  // SETITEM
          PyRef v = Pop(), k = Pop();
          SetItem(Mutable(Type::kDict), k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = PopToMark();
          if (items.size() % 2) Bad("odd number of dict items");
          PyRef d = Mutable(Type::kDict);
          for (size_t i = 0; i < items.size(); i += 2) SetItem(d, items[i], items[i + 1]);
          break;
        }
        case 'q':
          Memo(U8());
          break;  // BINPUT
        case 'r':
          Memo(LE(4));
          break;  // LONG_BINPUT
        case 0x94:
          Memo(memo_.size());
          break;  // MEMOIZE
        case 'h':
          Push(Recall(U8()));
          break;  // BINGET
        case 'j':
          Push(Recall(LE(4)));
          break;     // LONG_BINGET
        case 'c': {  // GLOBAL
          std::string module = Line(), name = Line();
          Push(Global(module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PyRef name = Pop(), module = Pop();
          if (!name->is(Type::kStr) || !module->is(Type::kStr)) Bad("STACK_GLOBAL needs strings");
          Push(Global(module->s + "." + name->s));
          break;
        }
        case 'R': {  // REDUCE
          PyRef args = Pop(), fn = Pop();
          Push(Reduce(fn, args));
          break;
        }
        case 'b': {  // BUILD
          PyRef state = Pop();
          PyRef obj = Top();
          if (obj->is(Type::kTensor) && obj->s == "ndarray") {
            BuildArray(obj, state);
          } else if (obj->is(Type::kDtype)) {
            CheckDtypeState(state);
          } else if (!obj->is(Type::kDict)) {
            // OrderedDict state dicts carry `_metadata` as an attribute: accepted and dropped.
            Bad("BUILD on a " + obj->TypeName());
          }
          break;
        }
        case 'Q': {  // BINPERSID
          PyRef pid = Pop();
          Push(PersistentLoad(pid));
          break;
        }
        // Protocol 0's text opcodes (the pickled attributes pandas stores in .h5 files).
        case 'I': {  // INT (I01/I00: bool)
          const std::string v = TextLine();
          if (v == "01" || v == "00") {
            Push(Bool(v == "01"));
          } else {
            Push(Int(ParseInt(v)));
          }
          break;
        }
        case 'L': {  // LONG
          std::string v = TextLine();
          if (!v.empty() && v.back() == 'L') v.pop_back();
          Push(Int(ParseInt(v)));
          break;
        }
        case 'F': {  // FLOAT
          const std::string v = TextLine();
          char* end = nullptr;
          auto o = Make(Type::kFloat);
          o->f = std::strtod(v.c_str(), &end);
          if (v.empty() || end != v.c_str() + v.size()) Bad("bad FLOAT");
          Push(o);
          break;
        }
        case 'V':
          Push(TextStr(Type::kStr, UnicodeEscapes(TextLine())));
          break;  // UNICODE
        case 'S':
          Push(TextStr(Type::kBytes, Unquote(TextLine())));
          break;  // STRING
        case 'p':
          Memo(static_cast<uint64_t>(ParseInt(TextLine())));
          break;  // PUT
        case 'g':
          Push(Recall(static_cast<uint64_t>(ParseInt(TextLine()))));
          break;  // GET
        case '0':
          Pop();
          break;  // POP
        case '1':
          PopToMark();
          break;  // POP_MARK
        case '2':
          Push(Top());
          break;  // DUP
        default: {
          char buf[64];
          std::snprintf(buf, sizeof buf, "unsupported pickle opcode 0x%02x at byte %ld", op,
                        static_cast<long>(p_ - begin_ - 1));
          Bad(buf);
        }
      }
    }
  }

  void set_begin(const uint8_t* b) { begin_ = b; }

 private:
  [[noreturn]] void Bad(const std::string& what) const {
    throw Error(Status::Corrupt(name_ + ": cannot read model pickle (" + what + ")"));
  }

  uint8_t U8() {
    if (p_ >= end_) Bad("truncated");
    return *p_++;
  }
  std::basic_string_view<uint8_t> Bytes(uint64_t n) {
    if (static_cast<uint64_t>(end_ - p_) < n) Bad("truncated");
    std::basic_string_view<uint8_t> v(p_, n);
    p_ += n;
    return v;
  }
  uint64_t LE(int n) {
    auto b = Bytes(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  uint64_t Checked(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) Bad("length beyond the end of the data");
    return n;
  }
  std::string Line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (nl == nullptr || nl - p_ > 256) Bad("bad GLOBAL");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }

  // A protocol-0 argument: the bytes up to the next newline.
  std::string TextLine() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (nl == nullptr) Bad("truncated text argument");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  int64_t ParseInt(const std::string& v) const {
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE) Bad("bad integer '" + v.substr(0, 32) + "'");
    return x;
  }
  PyRef TextStr(Type t, std::string s) {
    auto o = Make(t);
    o->s = std::move(s);
    return o;
  }
  static void AppendUtf8(uint32_t c, std::string* out) {
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (c >> 12)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (c >> 18)));
      out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  // raw-unicode-escape: \uXXXX and \UXXXXXXXX are code points, bytes >= 0x80 Latin-1, the rest as is.
  std::string UnicodeEscapes(const std::string& v) const {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(v[i]);
      if (c == '\\' && i + 1 < v.size() && (v[i + 1] == 'u' || v[i + 1] == 'U')) {
        const size_t n = v[i + 1] == 'u' ? 4 : 8;
        if (i + 2 + n > v.size()) Bad("bad \\u escape");
        uint32_t code = 0;
        for (size_t k = 0; k < n; ++k) {
          const char h = v[i + 2 + k];
          if (!std::isxdigit(static_cast<unsigned char>(h))) Bad("bad \\u escape");
          code = code * 16 + static_cast<uint32_t>(
                                 std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        if (code > 0x10FFFF) Bad("bad code point");
        AppendUtf8(code, &out);
        i += 1 + n;
      } else {
        AppendUtf8(c, &out);
      }
    }
    return out;
  }
  // A quoted Python 2 string literal: 'abc' or "abc" with backslash escapes.
  std::string Unquote(const std::string& v) const {
    if (v.size() < 2 || (v[0] != '\'' && v[0] != '"') || v.back() != v[0]) Bad("bad STRING");
    std::string out;
    for (size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[i] != '\\' || i + 2 >= v.size()) {
        out.push_back(v[i]);
        continue;
      }
      const char e = v[++i];
      if (e == 'n')
        out.push_back('\n');
      else if (e == 't')
        out.push_back('\t');
      else if (e == 'r')
        out.push_back('\r');
      else if (e == 'x' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
        out.push_back(static_cast<char>(std::strtol(v.substr(i + 1, 2).c_str(), nullptr, 16)));
        i += 2;
      } else
        out.push_back(e);
    }
    return out;
  }

  PyRef Bool(bool v) {
    auto o = Make(Type::kBool);
    o->b = v;
    return o;
  }
  PyRef Int(int64_t v) {
    auto o = Make(Type::kInt);
    o->i = v;
    return o;
  }
  PyRef Long(uint64_t n) {
    auto b = Bytes(n);
    if (n > 8) Bad("integer too large");
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | b[i];
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return Int(static_cast<int64_t>(v));
  }
  PyRef Str(Type t, uint64_t n) {
    auto b = Bytes(n);
    auto o = Make(t);
    o->s.assign(reinterpret_cast<const char*>(b.data()), n);
    return o;
  }
  PyRef Global(const std::string& name) {
    if (!Allowed(name, limits_)) {
      throw Error(Status::ModelError(name_ + ": refuses to load: the file asks for '" + name +
                                     "', which is not a tensor or plain data (possible code execution)"));
    }
    auto o = Make(Type::kGlobal);
    o->s = name;
    return o;
  }

  size_t Base() const { return marks_.empty() ? 0 : marks_.back(); }
  void Push(PyRef v) {
    if (stack_.size() >= limits_.max_stack) Bad("stack too deep");
    stack_.push_back(std::move(v));
  }
  PyRef Pop() {
    if (stack_.size() <= Base()) Bad("stack underflow");
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef Top() {
    if (stack_.size() <= Base()) Bad("stack underflow");
    return stack_.back();
  }
  PyRef Container(Type t) {
    PyRef c = Top();
    if (!c->is(t)) Bad("expected a " + std::string(t == Type::kList ? "list" : "dict") + ", found " + c->TypeName());
    return c;
  }
  std::vector<PyRef> PopToMark() {
    if (marks_.empty()) Bad("no MARK");
    size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) Bad("bad MARK");
    std::vector<PyRef> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  void CheckSize(size_t n) const {
    if (n > limits_.max_container) Bad("container too large");
  }
  // The container on top of the stack, about to be modified: it must not sit inside another
  // container already (only a recursive structure does that, and it could form a cycle).
  PyRef Mutable(Type t) {
    PyRef c = Container(t);
    if (c->frozen) Bad("container modified after being stored (recursive structure)");
    return c;
  }
  // Records that `child` now lives inside `parent`: bounds the nesting and freezes the child.
  void Adopt(const PyRef& parent, const PyRef& child) {
    if (parent == child) Bad("container holds itself");
    child->frozen = true;
    parent->depth = std::max(parent->depth, child->depth + 1);
    if (parent->depth > limits_.max_depth) Bad("containers nested too deeply");
  }
  void SetItem(const PyRef& d, const PyRef& k, const PyRef& v) {
    if (!k->is(Type::kStr) && !k->is(Type::kInt)) Bad("dict key is a " + k->TypeName());
    Adopt(d, v);
    // Keys indexed per dict: prediction pickles hold a key per frame (a linear search per item
    // would be quadratic in the video's length).
    auto& entry = dict_keys_[d.get()];
    entry.first = d;  // kept alive, so that no other dict reuses the address
    auto& index = entry.second;
    const std::string key = (k->is(Type::kInt) ? "i" + std::to_string(k->i) : "s" + k->s);
    auto found = index.find(key);
    if (found != index.end()) {
      d->dict[found->second].second = v;
      return;
    }
    index.emplace(key, d->dict.size());
    d->dict.emplace_back(k, v);
    CheckSize(d->dict.size());
  }
  void Memo(uint64_t key) {
    if (memo_.size() >= limits_.max_memo) Bad("memo too large");
    memo_[key] = Top();
  }
  PyRef Recall(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) Bad("memo key " + std::to_string(key) + " undefined");
    return it->second;
  }

  static int64_t AsInt(const PyRef& v, const char* what, const Unpickler& self) {
    if (!v->is(Type::kInt)) self.Bad(std::string(what) + " is not an integer");
    return v->i;
  }

  std::vector<int64_t> IntTuple(const PyRef& v, const char* what) {
    if (!v->is(Type::kTuple) && !v->is(Type::kList)) Bad(std::string(what) + " is not a tuple");
    std::vector<int64_t> out;
    for (const auto& e : v->items) {
      int64_t x = AsInt(e, what, *this);
      if (x < 0) Bad(std::string(what) + " has a negative entry");
      out.push_back(x);
    }
    return out;
  }

  PyRef Reduce(const PyRef& fn, const PyRef& args) {
    if (!fn->is(Type::kGlobal)) Bad("REDUCE on a " + fn->TypeName());
    if (!args->is(Type::kTuple)) Bad("REDUCE arguments are not a tuple");
    const std::string& g = fn->s;
    const auto& a = args->items;
    if (g == "collections.OrderedDict") {
      if (!a.empty()) Bad("OrderedDict with arguments");
      return Make(Type::kDict);
    }
    if (g == "torch._utils._rebuild_tensor_v2") {
      if (a.size() < 4) Bad("_rebuild_tensor_v2 needs 4+ arguments");
      return RebuildTensor(a[0], a[1], a[2], a[3]);
    }
    if (g == "torch._utils._rebuild_parameter") {
      if (a.empty() || !a[0]->is(Type::kTensor)) Bad("_rebuild_parameter needs a tensor");
      return a[0];
    }
    if (g == "torch.Size" || g == "builtins.set" || g == "builtins.frozenset") {
      auto t = Make(g == "torch.Size" ? Type::kTuple : Type::kList);
      if (a.size() == 1 && (a[0]->is(Type::kTuple) || a[0]->is(Type::kList))) {
        t->items = a[0]->items;  // already frozen inside a[0]
        t->depth = a[0]->depth;
      }
      return t;
    }
    if (g == "_codecs.encode") {  // protocol 2's bytes: encode(text, 'latin1'), one byte per code point
      auto b = Make(Type::kBytes);
      if (a.empty() || !a[0]->is(Type::kStr)) Bad("_codecs.encode without a text");
      if (a.size() > 1 && (!a[1]->is(Type::kStr) || (a[1]->s != "latin1" && a[1]->s != "latin-1"))) {
        Bad("_codecs.encode with an encoding other than latin1");
      }
      b->s = Latin1FromUtf8(a[0]->s);
      return b;
    }
    if (g == "builtins.bytearray") {
      auto b = Make(Type::kBytes);
      if (!a.empty() && a[0]->is(Type::kBytes)) b->s = a[0]->s;
      return b;
    }
    if (limits_.numpy && IsNumpyGlobal(g)) return ReduceNumpy(g, a);
    if (g == "pandas.core.indexes.base._new_Index") return PandasIndex(a);
    if (g == "pandas.MultiIndex.from_arrays") return PandasFromArrays(a);
    if (g == "torch.device") {
      auto s = Make(Type::kStr);
      if (!a.empty() && a[0]->is(Type::kStr)) s->s = a[0]->s;
      return s;
    }
    Bad("'" + g + "' cannot be called");
  }

  // The latin-1 bytes of pickled text (held as UTF-8): every code point must be below 256.
  std::string Latin1FromUtf8(const std::string& utf8) {
    std::string out;
    out.reserve(utf8.size());
    for (size_t i = 0; i < utf8.size(); ++i) {
      const auto c = static_cast<unsigned char>(utf8[i]);
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else if ((c & 0xE0) == 0xC0 && c <= 0xC3 && i + 1 < utf8.size() &&
                 (static_cast<unsigned char>(utf8[i + 1]) & 0xC0) == 0x80) {
        out.push_back(static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3F)));
        ++i;
      } else {
        Bad("_codecs.encode: text that is not latin-1");
      }
    }
    return out;
  }

  // _new_Index(cls, state): the state dict, with "__class__" naming cls ("...MultiIndex").
  PyRef PandasIndex(const std::vector<PyRef>& a) {
    if (a.size() != 2 || !a[0]->is(Type::kGlobal) || !a[1]->is(Type::kDict)) Bad("malformed pandas index");
    auto d = Make(Type::kDict);
    auto cls = Make(Type::kStr);
    cls->s = a[0]->s;
    auto key = Make(Type::kStr);
    key->s = "__class__";
    SetItem(d, key, cls);
    for (const auto& [k, v] : a[1]->dict) SetItem(d, k, v);
    return d;
  }

  // MultiIndex.from_arrays(arrays, sortorder, names) (posebatch's own headers): {"__class__":
  // "pandas.MultiIndex.from_arrays", "arrays": ..., "names": ...}.
  PyRef PandasFromArrays(const std::vector<PyRef>& a) {
    if (a.size() != 3 || !a[0]->is(Type::kList) || !a[2]->is(Type::kList)) Bad("malformed MultiIndex.from_arrays");
    auto d = Make(Type::kDict);
    auto key = [](const char* k) {
      auto o = Make(Type::kStr);
      o->s = k;
      return o;
    };
    auto cls = Make(Type::kStr);
    cls->s = "pandas.MultiIndex.from_arrays";
    SetItem(d, key("__class__"), cls);
    SetItem(d, key("arrays"), a[0]);
    SetItem(d, key("names"), a[2]);
    return d;
  }

  // numpy: _reconstruct(ndarray, (0,), b'b') makes an empty array that BUILD fills;
  // dtype('f8', False, True) a type BUILD gives its byte order; scalar(dtype, bytes) a number.
  PyRef ReduceNumpy(const std::string& g, const std::vector<PyRef>& a) {
    if (g.size() > 12 && g.compare(g.size() - 12, 12, "_reconstruct") == 0) {
      auto o = Make(Type::kTensor);
      o->s = "ndarray";  // to be built
      return o;
    }
    if (g == "numpy.dtype") {
      if (a.empty() || !a[0]->is(Type::kStr)) Bad("numpy.dtype without a type string");
      at::ScalarType unused;
      const bool object_array = limits_.pandas_index && a[0]->s == "O8";
      if (!object_array && !NumpyDtype(a[0]->s, &unused)) Bad("unsupported numpy dtype '" + a[0]->s + "'");
      auto d = Make(Type::kDtype);
      d->s = a[0]->s;
      return d;
    }
    static const std::string kFromBuffer = ".numeric._frombuffer";
    if (g.size() > kFromBuffer.size() &&
        g.compare(g.size() - kFromBuffer.size(), kFromBuffer.size(), kFromBuffer) == 0) {
      return FromBuffer(a);
    }
    if (g.size() > 7 && g.compare(g.size() - 7, 7, ".scalar") == 0) {
      if (a.size() != 2 || !a[0]->is(Type::kDtype) || !a[1]->is(Type::kBytes)) Bad("malformed numpy scalar");
      at::ScalarType dtype = at::kFloat;
      if (!NumpyDtype(a[0]->s, &dtype)) Bad("unsupported numpy dtype '" + a[0]->s + "'");
      const std::string& raw = a[1]->s;
      if (static_cast<int64_t>(raw.size()) != static_cast<int64_t>(c10::elementSize(dtype))) {
        Bad("numpy scalar of " + std::to_string(raw.size()) + " bytes for dtype " + a[0]->s);
      }
      const at::Tensor t = at::from_blob(const_cast<char*>(raw.data()), {1}, dtype).clone();
      if (at::isFloatingType(dtype)) {
        auto f = Make(Type::kFloat);
        f->f = t.to(at::kDouble).item<double>();
        return f;
      }
      return Int(t.to(at::kLong).item<int64_t>());
    }
    Bad("'" + g + "' cannot be called");
  }

  // Protocol 5's arrays: _frombuffer(data, dtype, shape, order), the data in-band.
  PyRef FromBuffer(const std::vector<PyRef>& a) {
    if (a.size() != 4 || !a[0]->is(Type::kBytes) || !a[1]->is(Type::kDtype) || !a[3]->is(Type::kStr)) {
      Bad("malformed numpy _frombuffer call");
    }
    at::ScalarType dtype = at::kFloat;
    if (!NumpyDtype(a[1]->s, &dtype)) Bad("unsupported numpy dtype '" + a[1]->s + "'");
    std::vector<int64_t> shape = IntTuple(a[2], "numpy array shape");
    int64_t numel = 1;
    const auto elem = static_cast<int64_t>(c10::elementSize(dtype));
    for (int64_t d : shape) {
      if (d < 0 || (d != 0 && numel > limits_.max_array_bytes / elem / d)) Bad("numpy array too large");
      numel *= d;
    }
    const std::string& raw = a[0]->s;
    if (static_cast<int64_t>(raw.size()) != numel * elem) {
      Bad("numpy array of " + std::to_string(numel) + " elements holds " + std::to_string(raw.size()) + " bytes");
    }
    const std::string order = a[3]->s;
    if (order != "C" && order != "F") Bad("numpy array order '" + order + "'");
    auto o = Make(Type::kTensor);
    if (order == "C") {
      o->tensor = at::from_blob(const_cast<char*>(raw.data()), shape, dtype).clone();
    } else {  // Fortran order: the reversed shape, transposed back
      std::vector<int64_t> reversed(shape.rbegin(), shape.rend());
      std::vector<int64_t> dims;
      for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) dims.push_back(i);
      o->tensor = at::from_blob(const_cast<char*>(raw.data()), reversed, dtype).permute(dims).contiguous();
    }
    return o;
  }

  // A dtype's state: only its byte order matters here (the type string came with the call).
  void CheckDtypeState(const PyRef& state) {
    if (!state->is(Type::kTuple) || state->items.size() < 2 || !state->items[1]->is(Type::kStr)) {
      Bad("malformed numpy dtype state");
    }
    const std::string& order = state->items[1]->s;
    if (order != "<" && order != "|" && order != "=") Bad("big-endian numpy arrays are not supported");
  }

  // ndarray state: (version, shape, dtype, is_fortran, raw bytes).
  void BuildArray(const PyRef& array, const PyRef& state) {
    if (array->tensor.defined()) Bad("numpy array built twice");
    if (!state->is(Type::kTuple) || state->items.size() != 5) Bad("malformed numpy array state");
    const auto& st = state->items;
    const std::vector<int64_t> shape = IntTuple(st[1], "numpy array shape");
    if (!st[2]->is(Type::kDtype)) Bad("numpy array without a dtype");
    if (!st[3]->is(Type::kBool) && !st[3]->is(Type::kInt)) Bad("numpy array order flag is not a bool");
    if (st[2]->s == "O8") return BuildObjectArray(array, shape, st[4]);
    if (!st[4]->is(Type::kBytes)) Bad("numpy array data is not bytes (object arrays are not supported)");
    at::ScalarType dtype = at::kFloat;
    if (!NumpyDtype(st[2]->s, &dtype)) Bad("unsupported numpy dtype '" + st[2]->s + "'");
    const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
    int64_t numel = 1;
    for (int64_t d : shape) {
      if (d != 0 && numel > limits_.max_array_bytes / elem / d) Bad("numpy array too large");
      numel *= d;
    }
    const std::string& raw = st[4]->s;
    if (static_cast<int64_t>(raw.size()) != numel * elem) {
      Bad("numpy array of " + std::to_string(numel) + " elements holds " + std::to_string(raw.size()) + " bytes");
    }
    const bool fortran = st[3]->is(Type::kBool) ? st[3]->b : st[3]->i != 0;
    std::vector<int64_t> dims = shape;
    if (fortran) std::reverse(dims.begin(), dims.end());
    at::Tensor t = at::empty(dims, dtype);
    if (numel > 0) std::memcpy(t.data_ptr(), raw.data(), static_cast<size_t>(numel * elem));
    if (fortran && t.dim() > 1) {
      std::vector<int64_t> perm(static_cast<size_t>(t.dim()));
      for (int64_t i = 0; i < t.dim(); ++i) perm[static_cast<size_t>(i)] = t.dim() - 1 - i;
      t = t.permute(perm).contiguous();
    }
    array->tensor = t;
  }

  // A 1-D object array (a pandas level's labels, pickled as a list): becomes that list.
  void BuildObjectArray(const PyRef& array, const std::vector<int64_t>& shape, const PyRef& items) {
    if (!limits_.pandas_index) Bad("object arrays are not supported");
    if (shape.size() != 1 || !items->is(Type::kList) || static_cast<int64_t>(items->items.size()) != shape[0]) {
      Bad("malformed numpy object array");
    }
    array->type = Type::kList;
    array->s.clear();
    array->depth = items->depth;
    for (const auto& item : items->items) {
      if (!item->is(Type::kStr) && !item->is(Type::kInt) && !item->is(Type::kFloat)) {
        Bad("numpy object array holding a " + item->TypeName());
      }
      array->items.push_back(item);
    }
  }

  PyRef PersistentLoad(const PyRef& pid) {
    if (!pid->is(Type::kTuple) || pid->items.size() < 5) Bad("bad persistent id");
    const auto& a = pid->items;
    if (!a[0]->is(Type::kStr) || a[0]->s != "storage") Bad("persistent id is not a storage");
    if (!a[1]->is(Type::kGlobal)) Bad("storage type is not a class");
    at::ScalarType dtype;
    if (!StorageDtype(a[1]->s, &dtype)) Bad("unsupported storage type " + a[1]->s);
    if (!a[2]->is(Type::kStr)) Bad("storage key is not a string");
    const int64_t numel = AsInt(a[4], "storage size", *this);
    if (numel < 0) Bad("negative storage size");
    const std::string key = a[2]->s;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    if (!archive_) Bad("persistent id without an archive");
    const ZipArchive::Entry* e = archive_->Find(prefix_ + "data/" + key);
    if (e == nullptr) Bad("storage '" + key + "' missing from the archive");
    const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
    if (static_cast<uint64_t>(numel) > e->size / elem) {
      Bad("storage '" + key + "' declares " + std::to_string(numel) + " elements but holds " +
          std::to_string(e->size / elem));
    }
    at::Tensor t;
    const uint8_t* ptr = archive_->data() + e->data_offset;
    if (e->method == 0 && reinterpret_cast<uintptr_t>(ptr) % elem == 0) {
      // Zero-copy: the tensor views the (private, copy-on-write) mapping and keeps it alive.
      std::shared_ptr<ZipArchive> keep = archive_;
      t = at::from_blob(
          const_cast<uint8_t*>(ptr), {numel}, [keep](void*) {}, at::TensorOptions().dtype(dtype));
    } else {
      std::string scratch;
      std::string_view bytes = archive_->Read(*e, &scratch);
      t = at::empty({numel}, at::TensorOptions().dtype(dtype));
      // An empty storage has no data pointer (memcpy from/to null is undefined even for 0
      // bytes: found by fuzz_model_file under UBSan).
      if (numel > 0) std::memcpy(t.data_ptr(), bytes.data(), static_cast<size_t>(numel * elem));
    }
    auto s = Make(Type::kStorage);
    s->tensor = t;
    storages_[key] = s;
    return s;
  }

  PyRef RebuildTensor(const PyRef& storage, const PyRef& offset_v, const PyRef& size_v, const PyRef& stride_v) {
    if (!storage->is(Type::kStorage)) Bad("tensor without storage");
    const int64_t offset = AsInt(offset_v, "storage offset", *this);
    auto size = IntTuple(size_v, "tensor size");
    auto stride = IntTuple(stride_v, "tensor stride");
    if (size.size() != stride.size()) Bad("size and stride differ in length");
    const int64_t numel = storage->tensor.numel();
    if (offset < 0 || offset > numel) Bad("storage offset out of bounds");
    bool empty = false;
    int64_t last = offset;
    int64_t elements = 1;  // the view's element count must fit int64 (stride-0 views repeat)
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] > 0 && elements > INT64_MAX / size[d]) Bad("tensor size overflows");
      elements *= size[d];
      if (size[d] == 0) empty = true;
      if (size[d] > 0 && stride[d] > 0 && (size[d] - 1) > (INT64_MAX - last) / stride[d])
        Bad("tensor extent overflows");
      if (size[d] > 0) last += (size[d] - 1) * stride[d];
    }
    if (!empty && last >= numel) Bad("tensor extends beyond its storage");
    auto t = Make(Type::kTensor);
    t->tensor = storage->tensor.as_strided(size, stride, offset);
    return t;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_ = nullptr;
  std::string name_;
  std::shared_ptr<ZipArchive> archive_;
  std::string prefix_;
  PickleLimits limits_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyRef> memo_;
  std::unordered_map<const PyObject*, std::pair<PyRef, std::unordered_map<std::string, size_t>>> dict_keys_;
  std::unordered_map<std::string, PyRef> storages_;
};

}  // namespace

const PyObject* PyObject::Get(const std::string& key) const {
  if (type != Type::kDict) return nullptr;
  for (const auto& kv : dict)
    if (kv.first->type == Type::kStr && kv.first->s == key) return kv.second.get();
  return nullptr;
}

std::string PyObject::TypeName() const {
  static const char* kNames[] = {"None",  "bool", "int",    "float",  "str",     "bytes",      "list",
                                 "tuple", "dict", "tensor", "global", "storage", "numpy dtype"};
  return kNames[static_cast<int>(type)];
}

PyRef LoadTorchPickle(const std::shared_ptr<ZipArchive>& archive, const PickleLimits& limits) {
  const ZipArchive::Entry* pkl = nullptr;
  for (const auto& e : archive->entries()) {
    const std::string& n = e.name;
    if (n.size() >= 8 && n.compare(n.size() - 8, 8, "data.pkl") == 0 && (n.size() == 8 || n[n.size() - 9] == '/')) {
      pkl = &e;
      break;
    }
  }
  if (pkl == nullptr) {
    throw Error(Status::Corrupt(archive->path() + ": no data.pkl inside: not a torch.save file"));
  }
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);
  std::string scratch;
  std::string_view bytes = archive->Read(*pkl, &scratch);
  Unpickler u(bytes, archive->path(), archive, prefix, limits);
  u.set_begin(reinterpret_cast<const uint8_t*>(bytes.data()));
  return u.Run();
}

PyRef LoadTorchFile(const std::string& path) {
  auto archive = ZipArchive::Open(path);
  return LoadTorchPickle(archive);
}

PyRef ParsePickle(const std::string& bytes, const std::string& name, const PickleLimits& limits) {
  Unpickler u(bytes, name, nullptr, "", limits);
  u.set_begin(reinterpret_cast<const uint8_t*>(bytes.data()));
  return u.Run();
}

}  // namespace posebatch
