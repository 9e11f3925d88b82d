// What `posebatch analyze` prints on stderr: messages, the live progress line, the per-input
// summary; and the exit status of a run.
#pragma once

#include <string>

#include "posebatch/analyze.h"

namespace posebatch::cli {

// Exit statuses: 0 all done; 1 some input failed; 2 bad usage; 3 every input has its outputs,
// but frames of a damaged video could not be decoded (rows of NaN) and lost frames were not
// allowed; 75 stopped at a checkpoint (SIGTERM, SIGUSR1: rerun with --resume to continue);
// 130 interrupted (Ctrl-C, or SIGTERM past its grace period). `posebatch status`: 0 complete, 1 a video failed, 3
// complete with lost frames, 4 not finished (pending, running or interrupted videos).
constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitLostFrames = 3, kExitUnfinished = 4, kExitStopped = 75,
              kExitInterrupted = 130;

// A message of the library: info lines only when not quiet; notes and warnings always.
void PrintMessage(MessageLevel level, const std::string& text, bool quiet);

// Live progress: one rewritten line on a terminal, a line every 10 s otherwise. Called from the
// pipeline's writer thread (one input at a time).
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet);
  void Update(const std::string& input, const Progress& p);
  void Finish();  // ends the rewritten line, if any

 private:
  bool quiet_, tty_;
  double last_ = -1e9;
  bool printed_ = false;
};

// Frames, time, fps and per-stage busy time of a finished input (stderr); its outputs (stdout).
void PrintInputResult(const InputResult& r, bool quiet);

// The exit status for a finished Analyze call, with the closing line it deserves (on stderr
// when `print`). `stopped_at_checkpoint`: the run was stopped gracefully (SIGTERM, SIGUSR1).
int FinishRun(const Status& st, const AnalyzeResult& result, bool allow_lost_frames, bool stopped_at_checkpoint,
              bool print);

}  // namespace posebatch::cli
