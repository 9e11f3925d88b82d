// Labeled videos: the poses of a DeepLabCut prediction file drawn on its video (DeepLabCut's
// create_labeled_video), as `posebatch label` makes them, and the settings that
// `posebatch analyze --labeled-video` uses to write one in the same pass (AnalyzeOptions).
// Code: src/viz/labeled_video.cc (in the same pass: src/viz/labeling_writer.cc).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "posebatch/status.h"

namespace posebatch {

// DeepLabCut's drawing conventions. "The project's" values come from a DeepLabCut project
// config.yaml: `project_config`, else (analyze) the model config's metadata.project_path.
struct LabeledVideoOptions {
  bool enabled = false;        // analyze: also write <stem><scorer>_labeled.mp4 in the same pass
  double pcutoff = -1;         // points with likelihood <= pcutoff are not drawn; < 0: the project's, else 0.6
  double dotsize = -1;         // dot radius in pixels; <= 0: the project's, else 8
  std::string colormap;        // matplotlib colormap; empty: the project's, else rainbow
  std::string color_by;        // "bodypart" or "individual"; empty: bodypart (single animal), individual (multi)
  bool draw_skeleton = false;  // lines between skeleton pairs whose two points are drawn
  std::vector<std::pair<std::string, std::string>> skeleton;  // pairs of bodyparts; empty: the project's
  int trail = 0;               // also the previous N positions of each point (smaller dots)
  bool boxes = false;          // boxes: the detector's (top-down, in the pass), else around each animal's points
  std::string project_config;  // DeepLabCut project config.yaml; empty: found from the model when it can be
  int crf = 18;                // H.264 quality (libx264 CRF; lower is better)
};

// The colormaps `colormap` may name (matplotlib's: rainbow, jet, viridis, plasma, ...; "_r"
// reverses).
std::vector<std::string> ColormapNames();

// "<h5 without .h5>_labeled.mp4": <stem><scorer>_labeled.mp4 for DeepLabCut's and posebatch's
// files.
std::string LabeledVideoPath(const std::string& h5_path);

// Draws the poses of `h5_path` (a DeepLabCut .h5: scorer/bodyparts/coords or
// scorer/individuals/bodyparts/coords, frame-number index) on the frames of `video_path` that
// have rows and writes an H.264 mp4 at `output_path` (empty: LabeledVideoPath(h5_path)), under a
// temporary name until complete. `*written`: the file; `*notes`: remarks (encoder fallback,
// skeleton not found). Never throws: kNotFound / kInvalidArgument / kCorrupt name the file.
Status CreateLabeledVideo(const std::string& h5_path, const std::string& video_path, const std::string& output_path,
                          const LabeledVideoOptions& options, std::string* written,
                          std::vector<std::string>* notes = nullptr);

}  // namespace posebatch
