// Machine-readable progress for schedulers and dashboards (`posebatch analyze --progress json`):
// one JSON object per line, each with "event", "time" (Unix seconds) and, in a campaign,
// "task" and "of". Events:
//   message   {"level": "info"|"note"|"warning", "text"}
//   start     {"input", "frames_total"}                       an input starts
//   progress  {"input", "frames_done", "frames_total", "elapsed", "fps", "eta"}  at most once
//             per interval per input, and at its end
//   done      {"input", "outcome": "analysed"|"skipped"|"busy"|"failed"|"stopped", "rows",
//              "resumed_rows", "frames", "lost_frames", "seconds", "fps", "outputs", "error"}
//   summary   {"inputs", "analysed", "skipped", "failed", "lost_frames", "interrupted", "exit_code"}
// Thread-safe: progress comes from the pipeline's writer thread, the rest from the caller's.
// Code: src/campaign/progress_json.cc.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "posebatch/analyze.h"

namespace posebatch {

class JsonProgressWriter {
 public:
  // Lines go to `out` (stderr for the CLI), flushed each; `interval_s` spaces progress events.
  explicit JsonProgressWriter(std::FILE* out, double interval_s = 1.0);
  ~JsonProgressWriter();
  void SetTask(int index, int count);  // adds "task" and "of" to every line
  void Message(MessageLevel level, const std::string& text);
  void InputStart(const std::string& input, int64_t frames_total);
  void InputProgress(const std::string& input, const Progress& progress);
  void InputDone(const InputResult& result);
  void Summary(const AnalyzeResult& result, int exit_code);
  // AnalyzeCallbacks that feed this writer, chained before `then` (which may be empty).
  AnalyzeCallbacks Callbacks(AnalyzeCallbacks then = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The outcome word of an input's result: analysed, skipped, busy, failed or stopped.
const char* InputOutcome(const InputResult& result);

}  // namespace posebatch
