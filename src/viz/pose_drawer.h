// Draws poses on a copy of a frame with cairo: anti-aliased filled dots, skeleton lines,
// optional boxes and trailing points, in DeepLabCut's colours (draw_style.h). The analysed
// frame is never touched: the canvas holds its own pixels.
#pragma once

#include <cairo.h>

#include <cstdint>
#include <vector>

#include "viz/colormap.h"
#include "viz/draw_style.h"
#include "viz/pose_columns.h"

namespace posebatch::viz {

// A cairo image surface (CAIRO_FORMAT_RGB24: 32-bit pixels, bytes B, G, R, unused on
// little-endian). Not thread-safe.
class PoseCanvas {
 public:
  PoseCanvas(int width, int height);
  ~PoseCanvas();
  PoseCanvas(const PoseCanvas&) = delete;
  PoseCanvas& operator=(const PoseCanvas&) = delete;

  // Copies a packed RGB24 frame of the canvas's size in.
  void Load(const uint8_t* rgb);
  cairo_t* context() { return cr_; }
  // The pixels after drawing (cairo flushed): stride() bytes per row.
  const uint8_t* data();
  int stride() const { return stride_; }
  int width() const { return width_; }
  int height() const { return height_; }
  Rgb PixelAt(int x, int y);

 private:
  int width_, height_, stride_;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

// Immutable once built; Draw may be called from one thread at a time per canvas.
class PoseDrawer {
 public:
  PoseDrawer(PoseColumns columns, DrawStyle style);

  // `row`: one prediction row (NaN where missing). `trail`: earlier rows, most recent first
  // (up to style.trail of them). `boxes`: x, y, w, h per individual (top-down), or null: with
  // style.boxes, a box around each individual's drawn points.
  void Draw(PoseCanvas& canvas, const double* row, const std::vector<const double*>& trail,
            const std::vector<float>* boxes = nullptr) const;

  const PoseColumns& columns() const { return columns_; }
  const DrawStyle& style() const { return style_; }
  // The colour of a keypoint (by bodypart or individual, per the style).
  Rgb ColorOf(const Keypoint& k) const;

 private:
  bool Visible(const double* row, const Keypoint& k) const;

  PoseColumns columns_;
  DrawStyle style_;
  std::vector<Rgb> colors_;  // per bodypart or per individual
};

}  // namespace posebatch::viz
