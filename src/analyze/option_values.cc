// The value parsers of the option tables (option_table.h): strict, whole-text, with messages that
// say what was expected and what was given.
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "posebatch/option_table.h"

namespace posebatch::option_values {
namespace {

Status Expected(const std::string& what, const std::string& v) {
  return Status::InvalidArgument("expects " + what + ", got '" + v + "'");
}

// A whole number, the whole text (no sign games, no trailing junk, no overflow).
bool ParseWhole(const std::string& v, long long* out) {
  if (v.empty() || v.size() > 18) return false;
  size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return false;
  for (size_t j = i; j < v.size(); ++j)
    if (v[j] < '0' || v[j] > '9') return false;
  *out = std::stoll(v);
  return true;
}

}  // namespace

std::string BoolText(bool b) { return b ? "true" : "false"; }

Status Bool(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no" || v == "off") {
    *out = false;
  } else {
    return Expected("true or false", v);
  }
  return Status::OK();
}

Status Int(const std::string& v, int min, int max, int* out) {
  long long n = 0;
  if (!ParseWhole(v, &n) || n < min || n > max) {
    return Expected("a whole number from " + std::to_string(min) + " to " + std::to_string(max), v);
  }
  *out = static_cast<int>(n);
  return Status::OK();
}

Status Real(const std::string& v, double min, double max, double* out) {
  auto text = [](double x) {
    std::ostringstream s;
    s << x;
    return s.str();
  };
  const std::string range = "a number from " + text(min) + " to " + text(max);
  if (v.empty()) return Expected(range, v);
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v.c_str(), &end);
  if (errno != 0 || end != v.c_str() + v.size() || !(x >= min && x <= max)) return Expected(range, v);
  *out = x;
  return Status::OK();
}

Status OneOf(const std::string& v, const std::vector<std::string>& choices, std::string* out) {
  for (const std::string& c : choices) {
    if (c == v) {
      *out = v;
      return Status::OK();
    }
  }
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  return Expected("one of " + list, v);
}

Status Device(const std::string& v, std::string* out) {
  long long n = 0;
  const bool ok = v == "cpu" || v == "cuda" || (v.rfind("cuda:", 0) == 0 && ParseWhole(v.substr(5), &n) && n >= 0);
  if (!ok) return Expected("cpu, cuda or cuda:N", v);
  *out = v;
  return Status::OK();
}

Status FrameRange(const std::string& v, int64_t* start, int64_t* stop) {
  const auto colon = v.find(':');
  if (colon == std::string::npos) return Expected("START:STOP (e.g. 0:1000)", v);
  const std::string a = v.substr(0, colon), b = v.substr(colon + 1);
  long long first = 0, last = -1;
  if ((!a.empty() && (!ParseWhole(a, &first) || first < 0)) || (!b.empty() && (!ParseWhole(b, &last) || last < 0))) {
    return Expected("START:STOP with whole numbers >= 0", v);
  }
  if (!a.empty() && !b.empty() && last <= first)
    return Status::InvalidArgument("STOP must be > START, got '" + v + "'");
  *start = first;
  *stop = b.empty() ? -1 : last;
  return Status::OK();
}

Status CropBox(const std::string& v, Crop* out) {
  std::vector<long long> n;
  size_t begin = 0;
  while (begin <= v.size()) {
    const size_t comma = std::min(v.find(',', begin), v.size());
    long long x = 0;
    if (!ParseWhole(v.substr(begin, comma - begin), &x) || x < 0 || x > (1 << 20)) break;
    n.push_back(x);
    begin = comma + 1;
  }
  const bool four = n.size() == 4 && begin > v.size();
  const Crop crop =
      four ? Crop{static_cast<int>(n[0]), static_cast<int>(n[1]), static_cast<int>(n[2]), static_cast<int>(n[3])}
           : Crop{};
  if (!crop.enabled()) return Expected("x1,x2,y1,y2 (whole numbers >= 0, x1 < x2, y1 < y2)", v);
  *out = crop;
  return Status::OK();
}

Status ExistingFile(const std::string& v, std::string* out) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(v, ec)) {
    return Status::InvalidArgument("expects an existing file, got '" + v + "' (" +
                                   (std::filesystem::exists(v, ec) ? "not a file" : "no such file") + ")");
  }
  *out = v;
  return Status::OK();
}

Status Skeleton(const std::string& v, std::vector<std::pair<std::string, std::string>>* out) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = std::min(v.find(',', start), v.size());
    const std::string pair = v.substr(start, comma - start);
    const size_t dash = pair.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == pair.size()) {
      return Expected("bodypart pairs a-b,c-d", v);
    }
    pairs.emplace_back(pair.substr(0, dash), pair.substr(dash + 1));
    start = comma + 1;
  }
  *out = std::move(pairs);
  return Status::OK();
}

}  // namespace posebatch::option_values
