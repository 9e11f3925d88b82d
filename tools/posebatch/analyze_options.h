// `posebatch analyze`'s options: declared once on CLI11 (for analyze, and for plan, whose
// tasks run them again from the manifest), then finished into AnalyzeOptions.
#pragma once

#include <CLI/CLI.hpp>
#include <set>
#include <string>
#include <vector>

#include "posebatch/analyze.h"

namespace posebatch::cli {

// What the command line says beyond AnalyzeOptions' own fields.
struct AnalyzeArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string batch_size = "8";   // N or auto
  std::string threads = "auto";   // N or auto
  std::string frames;             // START:STOP
  std::vector<int> crop;          // x1,x2,y1,y2
  std::string tracking_config;    // key=value,...
  std::string progress = "text";  // text, json or none
  bool no_async = false;
  bool quiet = false;
  bool allow_lost_frames = false;
};

// Declares the model and inputs positionals (required unless `inputs_optional`) and every
// analyze option on `cmd`, bound to `a` and `o`.
void AddAnalyzeOptions(CLI::App* cmd, AnalyzeArgs& a, AnalyzeOptions& o, bool inputs_optional = false);

// The parts of the command line that CLI11 keeps as text, into AnalyzeOptions. Returns false
// (after saying why) for values the validators cannot judge alone.
bool FinishOptions(const AnalyzeArgs& a, AnalyzeOptions* o);

// The options given on `cmd`'s command line (not the positionals, not those in `skip`, named by
// their long names), as arguments that parse back to the same values.
std::vector<std::string> GivenOptionArgs(const CLI::App& cmd, const std::set<std::string>& skip);

}  // namespace posebatch::cli
