#include "analyze/damage_report.h"

#include <cstdint>

namespace posebatch {
namespace {

// "10-11, 40" (at most 20 ranges, then "...").
template <typename Range, typename First, typename Last>
std::string FormatRanges(const std::vector<Range>& ranges, First first, Last last) {
  std::string out;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i == 20) return out + ", ...";
    if (i > 0) out += ", ";
    out += std::to_string(first(ranges[i]));
    if (last(ranges[i]) != first(ranges[i])) out += "-" + std::to_string(last(ranges[i]));
  }
  return out;
}

std::string Count(int64_t n, const char* what) {  // "1 damaged packet", "3 damaged packets"
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

std::vector<std::string> DamageWarnings(const std::string& display, const RunStats& stats, bool* lost) {
  std::vector<std::string> out;
  const StreamEnd& e = stats.stream;
  if (!e.concealed.empty()) {
    int64_t n = 0;
    for (const auto& r : e.concealed) n += r.second - r.first + 1;
    out.push_back(display + ": " + Count(n, "frame") +
                  " decoded from damaged data by concealment (analysed; pixels partly guessed): frames " +
                  FormatRanges(
                      e.concealed, [](const auto& r) { return r.first; }, [](const auto& r) { return r.second; }));
  }
  *lost = false;
  if (stats.lost_frames == 0 && e.stop_reason.empty() && e.rejected_packets == 0 && e.failed_frames == 0) {
    return out;
  }
  std::string causes;
  if (e.rejected_packets > 0) causes += Count(e.rejected_packets, "damaged packet") + "; ";
  if (e.failed_frames > 0) causes += Count(e.failed_frames, "frame") + " failed to decode; ";
  if (!e.stop_reason.empty()) causes += e.stop_reason + "; ";
  if (!causes.empty()) causes.resize(causes.size() - 2);
  if (stats.lost_frames > 0) {
    out.push_back(
        display + ": " + Count(stats.lost_frames, "frame") + " could not be decoded, written as rows of NaN: frames " +
        FormatRanges(
            stats.lost, [](const LostRange& r) { return r.first; }, [](const LostRange& r) { return r.last; }) +
        (causes.empty() ? "" : " (" + causes + ")"));
  } else {
    out.push_back(display + ": damaged data (" + causes + ")" +
                  (e.stop_reason.empty() ? ", no frame lost" : "; the frames after that point are unknown"));
  }
  *lost = stats.lost_frames > 0 || !e.stop_reason.empty();
  return out;
}

}  // namespace posebatch
