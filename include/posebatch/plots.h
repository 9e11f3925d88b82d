// Plots of a DeepLabCut prediction file, as DeepLabCut's plot_trajectories draws them:
// trajectories (x against y), x and y over time, likelihood over time with pcutoff, and a
// histogram of frame-to-frame jumps; PNG and SVG, drawn with cairo.
// Code: src/viz/plots.cc.
#pragma once

#include <string>
#include <vector>

#include "posebatch/status.h"

namespace posebatch {

struct PlotOptions {
  double pcutoff = -1;         // points at or below are left out of the plots; < 0: the project's, else 0.6
  std::string colormap;        // per bodypart; empty: the project's, else rainbow
  std::string project_config;  // DeepLabCut project config.yaml (pcutoff, colormap); may be empty
  bool png = true;
  bool svg = true;
  int width = 800, height = 600;  // pixels (PNG) / points (SVG)
};

// Writes trajectory, plot, plot-likelihood and hist (.png / .svg; multi-animal: one set per
// individual, prefixed "<individual>_") into `out_dir` (created; empty: plot-poses/<h5 stem>
// beside the file, as DeepLabCut). `*written`: the files. Never throws.
Status PlotTrajectories(const std::string& h5_path, const std::string& out_dir, const PlotOptions& options,
                        std::vector<std::string>* written);

}  // namespace posebatch
