// Small helpers of posebatch-bench: statistics over repeats, the machine's description, child
// processes (peak RSS, the Python reference) and output tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posebatch::bench {

// Median and spread of repeated measurements.
struct Stat {
  double median = 0, min = 0, max = 0;
};
Stat Summarize(std::vector<double> values);

std::vector<int> ParseIntList(const std::string& text);             // "1,8,32"
std::vector<std::string> ParseStringList(const std::string& text);  // "a,b"

// "git describe" of the source tree the bench was built from, or "unknown".
std::string SourceCommit();
// /proc/cpuinfo's model name and the number of online cores.
std::string CpuDescription();

// Runs argv (argv[0] a path), waits, and returns its exit status; stdout is captured into
// *out when non-null. *peak_rss_kb gets the child's peak resident set (from wait4).
int RunChild(const std::vector<std::string>& argv, std::string* out, long* peak_rss_kb);

// A table printed as markdown, CSV or JSON (an array of objects keyed by column name).
class Table {
 public:
  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string Render(const std::string& format) const;  // "md", "csv" or "json"
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

std::string Fmt(const char* format, double value);
std::string FmtStat(const Stat& s, const char* format);  // "median (min-max)"

}  // namespace posebatch::bench
