#include "viz/plot_axes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace posebatch::viz {
namespace {

void SetColor(cairo_t* cr, const Rgb& c, double alpha = 1) {
  cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha);
}

std::string TickLabel(double v, double step) {
  char buf[32];
  if (std::abs(v) < step * 1e-6) v = 0;
  const int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void Text(cairo_t* cr, const std::string& s, double x, double y, double ax, double ay, double angle = 0) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -e.x_bearing - e.width * ax, -e.y_bearing - e.height * ay);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

Axes::Axes(cairo_t* cr, double x, double y, double width, double height)
    // Half-pixel edges: the 1-pixel frame lines fall on whole pixels (crisp, not smeared over two).
    : cr_(cr), left_(x + 70.5), top_(y + 40.5), right_(x + width - 19.5), bottom_(y + height - 54.5) {}

void Axes::SetLimits(double x0, double x1, double y0, double y1, bool invert_y) {
  auto widen = [](double& a, double& b) {
    if (!std::isfinite(a) || !std::isfinite(b)) a = 0, b = 1;
    if (b <= a) a -= 0.5, b += 0.5;
  };
  widen(x0, x1);
  widen(y0, y1);
  x0_ = x0, x1_ = x1, y0_ = y0, y1_ = y1;
  invert_y_ = invert_y;
}

double Axes::X(double v) const { return left_ + (v - x0_) / (x1_ - x0_) * (right_ - left_); }
double Axes::Y(double v) const {
  const double t = (v - y0_) / (y1_ - y0_);
  return invert_y_ ? top_ + t * (bottom_ - top_) : bottom_ - t * (bottom_ - top_);
}

void Axes::Clip() {
  cairo_rectangle(cr_, left_, top_, right_ - left_, bottom_ - top_);
  cairo_clip(cr_);
}

void Axes::DrawFrame(const std::string& title, const std::string& xlabel, const std::string& ylabel) {
  cairo_t* cr = cr_;
  cairo_save(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  const Rgb black{0, 0, 0};
  SetColor(cr, black);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, left_, top_, right_ - left_, bottom_ - top_);
  cairo_stroke(cr);
  cairo_set_font_size(cr, 11);
  cairo_set_line_width(cr, 1);
  const std::vector<double> xt = NiceTicks(x0_, x1_), yt = NiceTicks(y0_, y1_);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  for (double v : xt) {
    const double px = X(v);
    cairo_move_to(cr, px, bottom_);
    cairo_line_to(cr, px, bottom_ + 5);
    cairo_stroke(cr);
    Text(cr, TickLabel(v, xstep), px, bottom_ + 8, 0.5, 0);
  }
  for (double v : yt) {
    const double py = Y(v);
    cairo_move_to(cr, left_ - 5, py);
    cairo_line_to(cr, left_, py);
    cairo_stroke(cr);
    Text(cr, TickLabel(v, ystep), left_ - 8, py, 1, 0.5);
  }
  cairo_set_font_size(cr, 13);
  Text(cr, xlabel, (left_ + right_) / 2, bottom_ + 30, 0.5, 0);
  Text(cr, ylabel, left_ - 55, (top_ + bottom_) / 2, 0.5, 0, -M_PI / 2);
  cairo_set_font_size(cr, 15);
  Text(cr, title, (left_ + right_) / 2, top_ - 12, 0.5, 1);
  cairo_restore(cr);
}

void Axes::Line(const std::vector<double>& xs, const std::vector<double>& ys, const Rgb& color, double width,
                bool dashed) {
  cairo_save(cr_);
  Clip();
  SetColor(cr_, color);
  cairo_set_line_width(cr_, width);
  cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
  if (dashed) {
    const double dash[] = {5, 3};
    cairo_set_dash(cr_, dash, 2, 0);
  }
  bool open = false;
  for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) {
      open = false;
      continue;
    }
    if (open) {
      cairo_line_to(cr_, X(xs[i]), Y(ys[i]));
    } else {
      cairo_move_to(cr_, X(xs[i]), Y(ys[i]));
      open = true;
    }
  }
  cairo_stroke(cr_);
  cairo_restore(cr_);
}

void Axes::Points(const std::vector<double>& xs, const std::vector<double>& ys, const Rgb& color, double radius) {
  cairo_save(cr_);
  Clip();
  SetColor(cr_, color, 0.7);
  for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    cairo_new_sub_path(cr_);
    cairo_arc(cr_, X(xs[i]), Y(ys[i]), radius, 0, 2 * M_PI);
  }
  cairo_fill(cr_);
  cairo_restore(cr_);
}

void Axes::HorizontalLine(double y, const Rgb& color, bool dashed) { Line({x0_, x1_}, {y, y}, color, 1.5, dashed); }

void Axes::Bars(const std::vector<double>& edges, const std::vector<double>& counts, const Rgb& color) {
  cairo_save(cr_);
  Clip();
  for (size_t i = 0; i < counts.size() && i + 1 < edges.size(); ++i) {
    if (counts[i] <= 0) continue;
    const double x = X(edges[i]), w = X(edges[i + 1]) - x, top = Y(counts[i]), base = Y(0);
    cairo_rectangle(cr_, x, top, w, base - top);
  }
  SetColor(cr_, color, 0.45);
  cairo_fill_preserve(cr_);
  SetColor(cr_, color, 0.9);
  cairo_set_line_width(cr_, 0.8);
  cairo_stroke(cr_);
  cairo_restore(cr_);
}

void Axes::Legend(const std::vector<std::string>& names, const std::vector<Rgb>& colors) {
  if (names.empty()) return;
  cairo_t* cr = cr_;
  cairo_save(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 11);
  double text_w = 0;
  for (const auto& n : names) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, n.c_str(), &e);
    text_w = std::max(text_w, e.x_advance);
  }
  const double line_h = 16, w = text_w + 36, h = line_h * names.size() + 8;
  const double x = right_ - w - 8, y = top_ + 8;
  cairo_rectangle(cr, x, y, w, h);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < names.size(); ++i) {
    const double cy = y + 4 + line_h * (i + 0.5);
    SetColor(cr, colors[i % colors.size()]);
    cairo_arc(cr, x + 14, cy, 4.5, 0, 2 * M_PI);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    Text(cr, names[i], x + 26, cy, 0, 0.5);
  }
  cairo_restore(cr);
}

}  // namespace posebatch::viz
