#include "viz/pose_drawer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "posebatch/status.h"

namespace posebatch::viz {
namespace {

void SetColor(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0); }

// DeepLabCut's pixel coordinates put the top-left pixel's centre at (0, 0); cairo at (0.5, 0.5).
constexpr double kPixelCentre = 0.5;

}  // namespace

PoseCanvas::PoseCanvas(int width, int height) : width_(width), height_(height) {
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  if (cairo_surface_status(surface_) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(surface_);
    throw Error(Status::Internal("cannot create a " + std::to_string(width) + "x" + std::to_string(height) +
                                 " drawing surface"));
  }
  stride_ = cairo_image_surface_get_stride(surface_);
  cr_ = cairo_create(surface_);
  cairo_set_antialias(cr_, CAIRO_ANTIALIAS_GOOD);
}

PoseCanvas::~PoseCanvas() {
  cairo_destroy(cr_);
  cairo_surface_destroy(surface_);
}

void PoseCanvas::Load(const uint8_t* rgb) {
  cairo_surface_flush(surface_);
  uint8_t* dst = cairo_image_surface_get_data(surface_);
  for (int y = 0; y < height_; ++y) {
    const uint8_t* s = rgb + static_cast<size_t>(y) * width_ * 3;
    uint32_t* d = reinterpret_cast<uint32_t*>(dst + static_cast<size_t>(y) * stride_);
    for (int x = 0; x < width_; ++x, s += 3) {
      d[x] = (uint32_t{s[0]} << 16) | (uint32_t{s[1]} << 8) | uint32_t{s[2]};
    }
  }
  cairo_surface_mark_dirty(surface_);
}

const uint8_t* PoseCanvas::data() {
  cairo_surface_flush(surface_);
  return cairo_image_surface_get_data(surface_);
}

Rgb PoseCanvas::PixelAt(int x, int y) {
  const uint32_t p = reinterpret_cast<const uint32_t*>(data() + static_cast<size_t>(y) * stride_)[x];
  return Rgb{static_cast<uint8_t>(p >> 16), static_cast<uint8_t>(p >> 8), static_cast<uint8_t>(p)};
}

PoseDrawer::PoseDrawer(PoseColumns columns, DrawStyle style) : columns_(std::move(columns)), style_(std::move(style)) {
  const size_t n = style_.color_by_individual ? columns_.individuals.size() : columns_.bodyparts.size();
  colors_ = Colormap::Named(style_.colormap).Colors(static_cast<int>(n));
}

Rgb PoseDrawer::ColorOf(const Keypoint& k) const {
  return colors_[static_cast<size_t>(style_.color_by_individual ? k.individual : k.bodypart)];
}

bool PoseDrawer::Visible(const double* row, const Keypoint& k) const {
  const double x = row[k.x], y = row[k.y];
  if (!std::isfinite(x) || !std::isfinite(y)) return false;
  if (k.likelihood < 0) return true;
  const double p = row[k.likelihood];
  return std::isfinite(p) && p > style_.pcutoff;  // DeepLabCut: drawn when likelihood > pcutoff
}

void PoseDrawer::Draw(PoseCanvas& canvas, const double* row, const std::vector<const double*>& trail,
                      const std::vector<float>* boxes) const {
  cairo_t* cr = canvas.context();
  cairo_save(cr);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  const double r = style_.dotsize;
  // Trailing points first (under everything), oldest first, half size.
  const size_t nt = std::min(trail.size(), static_cast<size_t>(style_.trail));
  for (size_t t = nt; t-- > 0;) {
    for (const Keypoint& k : columns_.keypoints) {
      if (!Visible(row, k) || !Visible(trail[t], k)) continue;
      SetColor(cr, ColorOf(k));
      cairo_arc(cr, trail[t][k.x] + kPixelCentre, trail[t][k.y] + kPixelCentre, std::max(1.0, r * 0.5), 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
  // Skeleton: a line per pair whose two points are drawn, per individual.
  if (style_.draw_skeleton && !style_.skeleton.empty()) {
    SetColor(cr, style_.skeleton_color);
    cairo_set_line_width(cr, std::max(1.0, r / 4));
    for (size_t ind = 0; ind < columns_.individuals.size(); ++ind) {
      for (const auto& [a, b] : style_.skeleton) {
        const Keypoint *ka = nullptr, *kb = nullptr;
        for (const Keypoint& k : columns_.keypoints) {
          if (k.individual != static_cast<int>(ind)) continue;
          if (k.bodypart == a) ka = &k;
          if (k.bodypart == b) kb = &k;
        }
        if (ka == nullptr || kb == nullptr || !Visible(row, *ka) || !Visible(row, *kb)) continue;
        cairo_move_to(cr, row[ka->x] + kPixelCentre, row[ka->y] + kPixelCentre);
        cairo_line_to(cr, row[kb->x] + kPixelCentre, row[kb->y] + kPixelCentre);
        cairo_stroke(cr);
      }
    }
  }
  // Boxes: the detector's, else around each individual's drawn points.
  if (style_.boxes) {
    cairo_set_line_width(cr, 2);
    const std::vector<Rgb> ind_colors =
        Colormap::Named(style_.colormap).Colors(static_cast<int>(columns_.individuals.size()));
    for (size_t ind = 0; ind < columns_.individuals.size(); ++ind) {
      double x0, y0, x1, y1;
      if (boxes != nullptr) {
        if (4 * ind + 3 >= boxes->size()) break;
        const float* b = boxes->data() + 4 * ind;
        if (!(b[2] > 0 && b[3] > 0)) continue;  // -1 rows: no animal
        x0 = b[0], y0 = b[1], x1 = b[0] + b[2], y1 = b[1] + b[3];
      } else {
        x0 = y0 = std::numeric_limits<double>::infinity();
        x1 = y1 = -x0;
        for (const Keypoint& k : columns_.keypoints) {
          if (k.individual != static_cast<int>(ind) || !Visible(row, k)) continue;
          x0 = std::min(x0, row[k.x] - r), x1 = std::max(x1, row[k.x] + r);
          y0 = std::min(y0, row[k.y] - r), y1 = std::max(y1, row[k.y] + r);
        }
        if (!(x1 > x0)) continue;
      }
      SetColor(cr, ind_colors[ind]);
      cairo_rectangle(cr, x0 + kPixelCentre, y0 + kPixelCentre, x1 - x0, y1 - y0);
      cairo_stroke(cr);
    }
  }
  // The dots, on top.
  for (const Keypoint& k : columns_.keypoints) {
    if (!Visible(row, k)) continue;
    SetColor(cr, ColorOf(k));
    cairo_arc(cr, row[k.x] + kPixelCentre, row[k.y] + kPixelCentre, r, 0, 2 * M_PI);
    cairo_fill(cr);
  }
  cairo_restore(cr);
}

}  // namespace posebatch::viz
