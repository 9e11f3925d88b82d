// DeepLabCut's column layout and numpy-compatible float formatting.
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch {

std::vector<std::string> ColumnLayout::LevelNames() const {
  if (individuals.empty()) return {"scorer", "bodyparts", "coords"};
  return {"scorer", "individuals", "bodyparts", "coords"};
}

std::vector<std::vector<std::string>> ColumnLayout::Columns() const {
  static const char* kCoords[] = {"x", "y", "likelihood"};
  std::vector<std::vector<std::string>> cols;
  if (individuals.empty()) {
    for (const auto& bp : bodyparts)
      for (const char* c : kCoords) cols.push_back({scorer, bp, c});
    return cols;
  }
  for (const auto& ind : individuals)
    for (const auto& bp : bodyparts)
      for (const char* c : kCoords) cols.push_back({scorer, ind, bp, c});
  for (const auto& bp : unique_bodyparts)
    for (const char* c : kCoords) cols.push_back({scorer, "single", bp, c});
  return cols;
}

namespace {

// Shortest digits that round-trip the value (numpy's Dragon4 "unique" mode, Python's repr),
// positional from 1e-4 up to 1e16, else d.ddde+XX.
template <typename T>
std::string FormatShortest(T value) {
  if (std::isnan(value)) return "";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == T(0)) return std::signbit(value) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < epos; ++i)
    if (sci[i] != '.') digits += sci[i];
  int exp10 = std::atoi(sci.c_str() + epos + 1);
  std::string out = negative ? "-" : "";
  const double mag = std::fabs(static_cast<double>(value));
  if (mag >= 1e-4 && mag < 1e16) {  // numpy repr: positional in this range
    if (exp10 >= 0) {
      std::string int_part = digits.substr(0, std::min<size_t>(digits.size(), exp10 + 1));
      while (static_cast<int>(int_part.size()) < exp10 + 1) int_part += '0';
      std::string frac = digits.size() > static_cast<size_t>(exp10 + 1) ? digits.substr(exp10 + 1) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(-exp10 - 1, '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += e;
  }
  return out;
}

}  // namespace

void PoseWriter::AppendDouble(int64_t /*index*/, const double* /*values*/) {
  throw Error(Status::Internal(final_path() + ": this writer takes float32 rows"));
}

std::string FormatFloat32Like(float value) { return FormatShortest(value); }
std::string FormatFloat64Like(double value) { return FormatShortest(value); }

}  // namespace posebatch
