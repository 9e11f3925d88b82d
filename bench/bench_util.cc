#include "bench_util.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace posebatch::bench {

Stat Summarize(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return {median, v.front(), v.back()};
}

std::vector<std::string> ParseStringList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<int> ParseIntList(const std::string& text) {
  std::vector<int> out;
  for (const auto& s : ParseStringList(text)) out.push_back(std::stoi(s));
  return out;
}

int RunChild(const std::vector<std::string>& argv, std::string* out, long* peak_rss_kb) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int pipe_fds[2] = {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out != nullptr) {
    if (pipe(pipe_fds) != 0) return -1;
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  }
  pid_t pid = -1;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (out != nullptr) close(pipe_fds[1]);
  if (err != 0) {
    if (out != nullptr) close(pipe_fds[0]);
    return -1;
  }
  if (out != nullptr) {
    std::array<char, 4096> buf;
    ssize_t n;
    while ((n = read(pipe_fds[0], buf.data(), buf.size())) > 0) out->append(buf.data(), static_cast<size_t>(n));
    close(pipe_fds[0]);
  }
  int status = 0;
  struct rusage usage {};
  if (wait4(pid, &status, 0, &usage) < 0) return -1;
  if (peak_rss_kb != nullptr) *peak_rss_kb = usage.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string SourceCommit() {
  std::string out;
  const std::string src = POSEBATCH_SOURCE_DIR;
  if (RunChild({"/usr/bin/git", "-C", src, "describe", "--always", "--dirty"}, &out, nullptr) != 0) return "unknown";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

std::string CpuDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores";
}

std::string Fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string FmtStat(const Stat& s, const char* format) {
  return Fmt(format, s.median) + " (" + Fmt(format, s.min) + "-" + Fmt(format, s.max) + ")";
}

namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string CsvCell(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string Table::Render(const std::string& format) const {
  std::ostringstream o;
  if (format == "json") {
    o << "[";
    for (size_t r = 0; r < rows_.size(); ++r) {
      o << (r ? ",\n " : "\n ") << "{";
      for (size_t c = 0; c < columns_.size(); ++c) {
        o << (c ? ", " : "") << JsonString(columns_[c]) << ": " << JsonString(c < rows_[r].size() ? rows_[r][c] : "");
      }
      o << "}";
    }
    o << "\n]\n";
  } else if (format == "csv") {
    for (size_t c = 0; c < columns_.size(); ++c) o << (c ? "," : "") << CsvCell(columns_[c]);
    o << "\n";
    for (const auto& row : rows_) {
      for (size_t c = 0; c < row.size(); ++c) o << (c ? "," : "") << CsvCell(row[c]);
      o << "\n";
    }
  } else {
    o << "|";
    for (const auto& c : columns_) o << " " << c << " |";
    o << "\n|";
    for (size_t c = 0; c < columns_.size(); ++c) o << (c == 0 ? ":---|" : "---:|");
    o << "\n";
    for (const auto& row : rows_) {
      o << "|";
      for (const auto& cell : row) o << " " << cell << " |";
      o << "\n";
    }
  }
  return o.str();
}

}  // namespace posebatch::bench
