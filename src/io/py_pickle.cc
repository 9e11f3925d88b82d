#include "io/py_pickle.h"

#include <cstdio>

namespace posebatch {

PyValue PyValue::Dict(std::vector<std::pair<PyValue, PyValue>> kv) {
  PyValue p(Kind::kDict);
  for (auto& [k, v] : kv) {
    p.items_.push_back(std::move(k));
    p.items_.push_back(std::move(v));
  }
  return p;
}

std::string PyValue::Pickle0() const {
  std::string out;
  Write(&out);
  out += '.';
  return out;
}

void PyValue::Write(std::string* out) const {
  switch (kind_) {
    case Kind::kNone:
      *out += 'N';
      break;
    case Kind::kBool:
      *out += int_ ? "I01\n" : "I00\n";  // protocol 0's True / False
      break;
    case Kind::kFloat: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "F%.17g\n", float_);  // round-trips exactly
      *out += buf;
      break;
    }
    case Kind::kInt:
      *out += 'I' + std::to_string(int_) + '\n';
      break;
    case Kind::kStr: {
      // UNICODE opcode: raw-unicode-escape of UTF-8 text. Bytes >= 0x80 would need decoding
      // to code points; escape every non-ASCII code point as \uXXXX / \UXXXXXXXX.
      *out += 'V';
      const std::string& s = str_;
      for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        uint32_t cp = c;
        size_t len = 1;
        if (c >= 0xF0) {
          cp = c & 0x07;
          len = 4;
        } else if (c >= 0xE0) {
          cp = c & 0x0F;
          len = 3;
        } else if (c >= 0xC0) {
          cp = c & 0x1F;
          len = 2;
        }
        if (len > 1) {
          if (i + len > s.size()) {
            cp = 0xFFFD;
            len = s.size() - i;
          } else
            for (size_t j = 1; j < len; ++j) cp = (cp << 6) | (static_cast<unsigned char>(s[i + j]) & 0x3F);
        }
        char buf[16];
        if (cp == '\\' || cp == '\n' || cp == '\r' || cp >= 0x80 || cp < 0x20) {
          if (cp > 0xFFFF)
            std::snprintf(buf, sizeof buf, "\\U%08x", cp);
          else
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          *out += buf;
        } else {
          *out += static_cast<char>(cp);
        }
        i += len;
      }
      *out += '\n';
      break;
    }
    case Kind::kList:
      *out += "(l";
      for (const auto& item : items_) {
        item.Write(out);
        *out += 'a';
      }
      break;
    case Kind::kTuple:
      *out += '(';
      for (const auto& item : items_) item.Write(out);
      *out += 't';
      break;
    case Kind::kDict:
      *out += "(d";
      for (size_t i = 0; i + 1 < items_.size(); i += 2) {
        items_[i].Write(out);
        items_[i + 1].Write(out);
        *out += 's';
      }
      break;
  }
}

}  // namespace posebatch
