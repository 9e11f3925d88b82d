// `posebatch analyze`: a run over the inputs, or one task of a campaign (--manifest, --shard).
#pragma once

#include <atomic>
#include <string>

#include "analyze_options.h"

namespace posebatch::cli {

// The process's stop flags, set by signal handlers.
struct StopFlags {
  const std::atomic<bool>* cancel = nullptr;              // SIGINT, SIGTERM: stop now
  const std::atomic<bool>* stop_at_checkpoint = nullptr;  // SIGUSR1: stop at the next chunk
};

// Runs `a`/`o` as parsed from `cmd` (the analyze subcommand). With a.manifest... see
// RunManifestTask. Returns the exit status (report.h).
int RunAnalyze(const AnalyzeArgs& a, AnalyzeOptions o, const StopFlags& stop);

// `analyze --manifest M [--shard I/N]`: the videos of one shard of the campaign beside M (all
// of them without a task index), with the options the plan recorded, overridden by those
// given on `cmd`'s command line.
int RunManifestTask(const CLI::App& cmd, const std::string& manifest, const std::string& shard, const StopFlags& stop);

}  // namespace posebatch::cli
