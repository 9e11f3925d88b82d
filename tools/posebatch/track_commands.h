// `posebatch tracklets`, `stitch` and `track`: multi-animal predictions into DeepLabCut's
// tracklet pickles, tracklet pickles into the tracked .h5, or both (posebatch/tracking.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "posebatch/tracking.h"

namespace posebatch::cli {

struct TrackCommands {
  CLI::App* tracklets = nullptr;
  CLI::App* stitch = nullptr;
  CLI::App* track = nullptr;
  std::vector<std::string> predictions;  // or tracklet pickles (stitch)
  ConvertOptions options;
  StitchOptions stitch_options;
  TrackOptions track_options;
  bool quiet = false;
};

void AddTrackCommands(CLI::App& app, TrackCommands& t);

// Runs the command if it was given; returns its exit status, or -1 when it was not.
int RunTrackCommand(const TrackCommands& t);

}  // namespace posebatch::cli
