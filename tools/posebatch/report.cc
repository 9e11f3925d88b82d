#include "report.h"

#include <unistd.h>

#include <cstdio>

namespace posebatch::cli {
namespace {

std::string FormatDuration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

}  // namespace

void PrintMessage(MessageLevel level, const std::string& text, bool quiet) {
  switch (level) {
    case MessageLevel::kInfo:
      if (!quiet) std::fprintf(stderr, "%s\n", text.c_str());
      break;
    case MessageLevel::kNote:
      std::fprintf(stderr, "note: %s\n", text.c_str());
      break;
    case MessageLevel::kWarning:
      std::fprintf(stderr, "warning: %s\n", text.c_str());
      break;
  }
}

ProgressPrinter::ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(2) != 0) {}

void ProgressPrinter::Update(const std::string& input, const Progress& p) {
  if (quiet_) return;
  const double interval = tty_ ? 0.25 : 10.0;
  if (p.elapsed_seconds - last_ < interval && p.frames_done != p.frames_total) return;
  last_ = p.elapsed_seconds;
  const double fps = p.elapsed_seconds > 0 ? p.frames_done / p.elapsed_seconds : 0;
  const std::string total = p.frames_total >= 0 ? std::to_string(p.frames_total) : "?";
  const double eta = (p.frames_total >= 0 && fps > 0) ? (p.frames_total - p.frames_done) / fps : -1;
  std::fprintf(stderr, "%s%s: %lld/%s frames  %.2f fps  ETA %s%s", tty_ ? "\r\033[K" : "", input.c_str(),
               static_cast<long long>(p.frames_done), total.c_str(), fps, FormatDuration(eta).c_str(),
               tty_ ? "" : "\n");
  printed_ = true;
}

void ProgressPrinter::Finish() {
  if (printed_ && tty_) std::fprintf(stderr, "\n");
  printed_ = false;
  last_ = -1e9;
}

void PrintInputResult(const InputResult& r, bool quiet) {
  if (!r.status.ok()) {
    std::fprintf(stderr, "error: %s\n", r.status.message().c_str());
    return;
  }
  if (r.skipped) return;
  const RunStats& s = r.stats;
  if (!quiet) {
    const StageTimes& b = s.busy;
    std::fprintf(stderr,
                 "%s: %lld frames in %.2f s (%.2f fps), %lld batches\n"
                 "  busy s: decode %.2f | preprocess %.2f | inference wait %.2f | inference %.2f | "
                 "postprocess %.2f | write %.2f\n",
                 r.input.c_str(), static_cast<long long>(s.frames), s.wall_seconds,
                 s.wall_seconds > 0 ? s.frames / s.wall_seconds : 0.0, static_cast<long long>(s.batches), b.decode,
                 b.preprocess, b.inference_wait, b.inference, b.postprocess, b.write);
    if (s.source_runs >= 0) {
      std::fprintf(stderr, "  CTD tracking: conditions source ran on %lld of %lld frames\n",
                   static_cast<long long>(s.source_runs), static_cast<long long>(s.frames));
    }
    if (r.resumed_rows > 0) {
      std::fprintf(stderr, "  + %lld frames resumed from the journal\n", static_cast<long long>(r.resumed_rows));
    }
  }
  for (const std::string& path : r.outputs) std::printf("%s\n", path.c_str());
  std::fflush(stdout);
}

int FinishRun(const Status& st, const AnalyzeResult& result, bool allow_lost_frames, bool stopped_at_checkpoint,
              bool print) {
  if (result.interrupted) {
    if (print && stopped_at_checkpoint) {
      std::fprintf(stderr,
                   "stopped at a checkpoint (SIGTERM / SIGUSR1): completed chunks are kept; --resume continues\n");
    } else if (print) {
      std::fprintf(stderr,
                   "interrupted: unfinished outputs were removed; finished ones are kept; --resume "
                   "continues unfinished videos from their last completed chunk\n");
    }
    return stopped_at_checkpoint ? kExitStopped : kExitInterrupted;
  }
  if (result.failed() > 0) return kExitFailed;
  if (!st.ok()) {  // failed before any input ran (auto batch size, a folder without inputs)
    if (print) std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return kExitFailed;
  }
  const int damaged = result.with_lost_frames();
  if (damaged > 0 && !allow_lost_frames) {
    if (print) {
      std::fprintf(stderr, "%d video(s) lost frames (see above); exit status %d (--allow-lost-frames: 0)\n", damaged,
                   kExitLostFrames);
    }
    return kExitLostFrames;
  }
  return kExitOk;
}

}  // namespace posebatch::cli
