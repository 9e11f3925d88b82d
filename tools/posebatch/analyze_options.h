// `posebatch analyze`'s options: the library's AnalyzeOptionTable (posebatch/option_table.h)
// on CLI11, for analyze and for plan (whose tasks parse them again from the manifest), plus the
// few that only the command line has (the progress report, the exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <set>
#include <string>
#include <vector>

#include "posebatch/analyze.h"

namespace posebatch::cli {

// What the command line says beyond AnalyzeOptions.
struct AnalyzeArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string progress = "text";  // text, json or none
  bool quiet = false;
  bool allow_lost_frames = false;
};

// Declares the model and inputs positionals (required unless `inputs_optional`) and every
// analyze option on `cmd`, bound to `a` and `o`.
void AddAnalyzeOptions(CLI::App* cmd, AnalyzeArgs& a, AnalyzeOptions& o, bool inputs_optional = false);

// The options given on `cmd`'s command line or by their environment variables (not the
// positionals, not those in `skip`, named by their long names), as arguments that parse back to
// the same values.
std::vector<std::string> GivenOptionArgs(const CLI::App& cmd, const std::set<std::string>& skip);

}  // namespace posebatch::cli
