// One labeled video being written: each frame copied onto a cairo canvas, its poses drawn,
// encoded (H.264). Shared by `posebatch label` and the labeled video of an analysis pass.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io/video_encoder.h"
#include "viz/pose_drawer.h"

namespace posebatch::viz {

struct RendererOptions {
  int width = 0, height = 0;  // the frames'
  double fps = 30;            // the input's
  int crf = 18;
  double offset_x = 0, offset_y = 0;  // added to every coordinate (--crop: the crop's corner)
};

// Not thread-safe: one thread adds frames.
class LabelRenderer {
 public:
  // Opens `<path>.part`; throws Error naming it.
  LabelRenderer(PoseDrawer drawer, const std::string& path, const RendererOptions& options);

  // Draws `row` (null: no poses for this frame, and the trail restarts) on a copy of the packed
  // RGB24 `rgb` and encodes it. `boxes`: top-down boxes (x, y, w, h per individual) or null.
  void Add(const uint8_t* rgb, const double* row, const std::vector<float>* boxes = nullptr);
  void Finish();          // renames to the final name; throws Error
  void Abort() noexcept;  // removes the temporary file

  const VideoEncoder& encoder() const { return encoder_; }
  const PoseDrawer& drawer() const { return drawer_; }

 private:
  PoseDrawer drawer_;
  RendererOptions options_;
  PoseCanvas canvas_;
  VideoEncoder encoder_;
  std::deque<std::vector<double>> history_;  // earlier rows for the trail, most recent first
};

}  // namespace posebatch::viz
