// `posebatch label` and `posebatch plot` (posebatch/labeled_video.h, posebatch/plots.h). label's
// drawing options are DrawingOptionTable's (posebatch/option_table.h), as analyze's are.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "posebatch/labeled_video.h"
#include "posebatch/plots.h"

namespace posebatch::cli {

struct VizCommands {
  CLI::App* label = nullptr;
  CLI::App* plot = nullptr;
  // label
  std::string label_h5, label_video, label_output;
  LabeledVideoOptions label_options;
  // plot
  std::string plot_h5, plot_dir;
  PlotOptions plot_options;
  bool no_png = false, no_svg = false;
  bool quiet = false;
};

// Declares label and plot on `app`.
void AddVizCommands(CLI::App& app, VizCommands& v);

// Runs whichever of them was given and returns its exit status; -1 when neither was.
int RunVizCommand(const VizCommands& v);

}  // namespace posebatch::cli
