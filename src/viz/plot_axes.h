// A minimal 2D plot on a cairo context: axes with ticks and tick labels, axis labels, title,
// lines, points, bars and a legend (cairo's toy text API). Enough for plot_trajectories' figures.
#pragma once

#include <cairo.h>

#include <string>
#include <vector>

#include "viz/colormap.h"

namespace posebatch::viz {

// About `target` ticks at 1, 2, 2.5 or 5 x 10^k covering [lo, hi].
std::vector<double> NiceTicks(double lo, double hi, int target = 6);

// Not thread-safe; the context must outlive it.
class Axes {
 public:
  // The axes' figure area (device units): the plot box is inset for labels and ticks.
  Axes(cairo_t* cr, double x, double y, double width, double height);

  // Data limits (widened a little when empty); invert_y: y grows downwards (image coordinates).
  void SetLimits(double x0, double x1, double y0, double y1, bool invert_y = false);
  // Box, ticks, tick labels, axis labels and title.
  void DrawFrame(const std::string& title, const std::string& xlabel, const std::string& ylabel);
  // A polyline through the finite points (NaN breaks it), clipped to the box.
  void Line(const std::vector<double>& xs, const std::vector<double>& ys, const Rgb& color, double width = 1.2,
            bool dashed = false);
  void Points(const std::vector<double>& xs, const std::vector<double>& ys, const Rgb& color, double radius = 2);
  void HorizontalLine(double y, const Rgb& color, bool dashed = true);
  // Histogram bars: edges.size() == counts.size() + 1; semi-transparent fill with an outline.
  void Bars(const std::vector<double>& edges, const std::vector<double>& counts, const Rgb& color);
  // A boxed legend in the upper-right corner of the plot box.
  void Legend(const std::vector<std::string>& names, const std::vector<Rgb>& colors);

  double X(double v) const;  // data -> device
  double Y(double v) const;
  // The plot box (device units).
  double left() const { return left_; }
  double top() const { return top_; }
  double right() const { return right_; }
  double bottom() const { return bottom_; }

 private:
  void Clip();
  cairo_t* cr_;
  double left_, top_, right_, bottom_;
  double x0_ = 0, x1_ = 1, y0_ = 0, y1_ = 1;
  bool invert_y_ = false;
};

}  // namespace posebatch::viz
