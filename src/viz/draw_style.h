// How poses are drawn: DeepLabCut's settings (pcutoff, dotsize, colormap, skeleton) resolved from
// the command line, the DeepLabCut project's config.yaml and DeepLabCut's defaults, in that order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "posebatch/labeled_video.h"
#include "viz/colormap.h"
#include "viz/pose_columns.h"

namespace posebatch::viz {

// What a DeepLabCut project config.yaml says about drawing (absent fields stay unset).
struct ProjectSettings {
  std::string path;            // the config.yaml read; empty when none
  double pcutoff = -1;         // < 0: unset
  double dotsize = -1;         // <= 0: unset
  std::string colormap;        // empty: unset
  std::string skeleton_color;  // matplotlib colour name; empty: unset
  std::vector<std::pair<std::string, std::string>> skeleton;
};

// Reads `path`: a project config.yaml, or a pytorch_config.yaml whose metadata.project_path holds
// one (followed when it exists). Missing file or fields: what was found. Throws Error only for a
// file that exists but is not YAML.
ProjectSettings ReadProjectSettings(const std::string& path);
// From a model config's text (its metadata.project_path/config.yaml), when that file exists.
ProjectSettings ProjectSettingsFromModelConfig(const std::string& config_yaml_text);
// The settings a labeled video uses: options.project_config when given, else the model
// config's project (`model_config_text`; empty: none).
ProjectSettings ResolveProjectSettings(const LabeledVideoOptions& options, const std::string& model_config_text);

struct DrawStyle {
  double pcutoff = 0.6;  // drawn when likelihood > pcutoff (DeepLabCut's test)
  double dotsize = 8;    // dot radius, pixels
  std::string colormap = "rainbow";
  bool color_by_individual = false;
  bool draw_skeleton = false;
  std::vector<std::pair<int, int>> skeleton;  // bodypart indices into PoseColumns::bodyparts
  Rgb skeleton_color{0, 0, 0};
  int trail = 0;
  bool boxes = false;
};

// Options over project settings over DeepLabCut's defaults, for the file's columns. Throws Error
// (kInvalidArgument) for an unknown colormap or color_by; skeleton pairs naming bodyparts the
// file lacks are dropped with a note in *notes.
DrawStyle ResolveStyle(const LabeledVideoOptions& options, const ProjectSettings& project, const PoseColumns& columns,
                       std::vector<std::string>* notes);

// A matplotlib colour name (black, white, red, ...) or #rrggbb; black for anything else.
Rgb NamedColor(const std::string& name);

}  // namespace posebatch::viz
