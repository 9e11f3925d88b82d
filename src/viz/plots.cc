// posebatch plot: DeepLabCut's plot_trajectories figures from a prediction .h5, with cairo.
#include "posebatch/plots.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "io/h5_reader.h"
#include "viz/draw_style.h"
#include "viz/plot_axes.h"
#include "viz/pose_columns.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

using viz::Axes;
using viz::Rgb;

// One individual's series: per bodypart, x, y and likelihood over the rows, with x and y NaN
// where the likelihood is at or below pcutoff (as DeepLabCut masks them).
struct Series {
  std::vector<std::string> bodyparts;
  std::vector<Rgb> colors;
  std::vector<double> frames;
  std::vector<std::vector<double>> x, y, p;
};

using Painter = std::function<void(cairo_t*, double w, double h)>;

void Save(const Painter& paint, const std::string& base, const PlotOptions& o, std::vector<std::string>* written) {
  if (o.png) {
    cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, o.width, o.height);
    cairo_t* cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    paint(cr, o.width, o.height);
    cairo_destroy(cr);
    const std::string path = base + ".png", temp = path + ".part";
    const cairo_status_t st = cairo_surface_write_to_png(s, temp.c_str());
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
      std::error_code ec;
      fs::remove(temp, ec);
      throw Error(Status::IOError(temp + ": cannot write PNG (" + cairo_status_to_string(st) + ")"));
    }
    fs::rename(temp, path);
    written->push_back(path);
  }
  if (o.svg) {
    const std::string path = base + ".svg", temp = path + ".part";
    cairo_surface_t* s = cairo_svg_surface_create(temp.c_str(), o.width, o.height);
    cairo_t* cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    paint(cr, o.width, o.height);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    const cairo_status_t st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
      std::error_code ec;
      fs::remove(temp, ec);
      throw Error(Status::IOError(temp + ": cannot write SVG (" + cairo_status_to_string(st) + ")"));
    }
    fs::rename(temp, path);
    written->push_back(path);
  }
}

void Range(const std::vector<std::vector<double>>& vs, double* lo, double* hi) {
  *lo = std::numeric_limits<double>::infinity();
  *hi = -*lo;
  for (const auto& v : vs)
    for (double x : v)
      if (std::isfinite(x)) *lo = std::min(*lo, x), *hi = std::max(*hi, x);
}

void Pad(double* lo, double* hi, double frac) {
  if (!std::isfinite(*lo)) return;
  const double d = std::max(*hi - *lo, 1e-9) * frac;
  *lo -= d, *hi += d;
}

void PlotSet(const Series& s, const std::string& base, const std::string& suffix, double pcutoff, const PlotOptions& o,
             std::vector<std::string>* written) {
  double x0, x1, y0, y1;
  Range(s.x, &x0, &x1);
  Range(s.y, &y0, &y1);
  Pad(&x0, &x1, 0.05);
  Pad(&y0, &y1, 0.05);
  const double f0 = s.frames.empty() ? 0 : s.frames.front(), f1 = s.frames.empty() ? 1 : s.frames.back();
  Save(
      [&](cairo_t* cr, double w, double h) {
        Axes ax(cr, 0, 0, w, h);
        ax.SetLimits(x0, x1, y0, y1, /*invert_y=*/true);  // image coordinates, as DeepLabCut's
        for (size_t b = 0; b < s.bodyparts.size(); ++b) ax.Points(s.x[b], s.y[b], s.colors[b], 2);
        ax.DrawFrame("Trajectories" + suffix, "X position in pixels", "Y position in pixels");
        ax.Legend(s.bodyparts, s.colors);
      },
      base + "trajectory", o, written);
  double lo = std::min(x0, y0), hi = std::max(x1, y1);
  Save(
      [&](cairo_t* cr, double w, double h) {
        Axes ax(cr, 0, 0, w, h);
        ax.SetLimits(f0, f1, lo, hi);
        for (size_t b = 0; b < s.bodyparts.size(); ++b) {
          ax.Line(s.frames, s.x[b], s.colors[b], 1.2, /*dashed=*/true);
          ax.Line(s.frames, s.y[b], s.colors[b], 1.2, /*dashed=*/false);
        }
        ax.DrawFrame("Positions over time" + suffix, "Frame index", "X (dashed) and Y (solid) position in pixels");
        ax.Legend(s.bodyparts, s.colors);
      },
      base + "plot", o, written);
  Save(
      [&](cairo_t* cr, double w, double h) {
        Axes ax(cr, 0, 0, w, h);
        ax.SetLimits(f0, f1, 0, 1.05);
        for (size_t b = 0; b < s.bodyparts.size(); ++b) ax.Line(s.frames, s.p[b], s.colors[b], 1.2);
        ax.HorizontalLine(pcutoff, Rgb{0, 0, 0}, true);
        ax.DrawFrame("Likelihood" + suffix + " (dashed: pcutoff " + std::to_string(pcutoff).substr(0, 4) + ")",
                     "Frame index", "Likelihood");
        ax.Legend(s.bodyparts, s.colors);
      },
      base + "plot-likelihood", o, written);
  // Frame-to-frame jumps: the distance a point moved between consecutive frames (both above
  // pcutoff).
  std::vector<std::vector<double>> jumps(s.bodyparts.size());
  double jmax = 0;
  for (size_t b = 0; b < s.bodyparts.size(); ++b) {
    for (size_t i = 1; i < s.frames.size(); ++i) {
      const double d = std::hypot(s.x[b][i] - s.x[b][i - 1], s.y[b][i] - s.y[b][i - 1]);
      if (std::isfinite(d)) {
        jumps[b].push_back(d);
        jmax = std::max(jmax, d);
      }
    }
  }
  const int nbins = 50;
  const double width = jmax > 0 ? jmax / nbins : 1.0 / nbins;
  std::vector<double> edges(nbins + 1);
  for (int i = 0; i <= nbins; ++i) edges[static_cast<size_t>(i)] = i * width;
  std::vector<std::vector<double>> counts(s.bodyparts.size(), std::vector<double>(nbins, 0));
  double cmax = 0;
  for (size_t b = 0; b < jumps.size(); ++b) {
    for (double d : jumps[b]) {
      const int i = std::min(nbins - 1, static_cast<int>(d / width));
      cmax = std::max(cmax, ++counts[b][static_cast<size_t>(i)]);
    }
  }
  Save(
      [&](cairo_t* cr, double w, double h) {
        Axes ax(cr, 0, 0, w, h);
        ax.SetLimits(0, edges.back(), 0, std::max(1.0, cmax * 1.05));
        for (size_t b = 0; b < s.bodyparts.size(); ++b) ax.Bars(edges, counts[b], s.colors[b]);
        ax.DrawFrame("Frame-to-frame jumps" + suffix, "Jump between consecutive frames (pixels)", "Count");
        ax.Legend(s.bodyparts, s.colors);
      },
      base + "hist", o, written);
}

}  // namespace

Status PlotTrajectories(const std::string& h5_path, const std::string& out_dir, const PlotOptions& o,
                        std::vector<std::string>* written) {
  try {
    std::error_code ec;
    if (!fs::is_regular_file(h5_path, ec)) return Status::NotFound(h5_path + ": no such file");
    if (!o.png && !o.svg) return Status::InvalidArgument("neither PNG nor SVG asked for");
    if (o.width < 100 || o.height < 100) return Status::InvalidArgument("plots need at least 100x100");
    const PoseTable table = ReadPoseTable(h5_path);
    const viz::PoseColumns columns = viz::ParsePoseColumns(table.level_names, table.columns, h5_path);
    const viz::ProjectSettings project = viz::ReadProjectSettings(o.project_config);
    const double pcutoff = o.pcutoff >= 0 ? o.pcutoff : (project.pcutoff >= 0 ? project.pcutoff : 0.6);
    const std::string cmap =
        !o.colormap.empty() ? o.colormap : (!project.colormap.empty() ? project.colormap : "rainbow");
    const std::vector<Rgb> colors = viz::Colormap::Named(cmap).Colors(static_cast<int>(columns.bodyparts.size()));
    const fs::path dir =
        out_dir.empty() ? fs::path(h5_path).parent_path() / "plot-poses" / fs::path(h5_path).stem() : fs::path(out_dir);
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError(dir.string() + ": cannot create folder (" + ec.message() + ")");
    std::vector<double> frames;
    for (int64_t r = 0; r < table.rows; ++r) {
      frames.push_back(table.index.empty() ? static_cast<double>(r)
                                           : static_cast<double>(table.index[static_cast<size_t>(r)]));
    }
    std::vector<std::string> out;
    for (size_t ind = 0; ind < columns.individuals.size(); ++ind) {
      Series s;
      s.frames = frames;
      for (const viz::Keypoint& k : columns.keypoints) {
        if (k.individual != static_cast<int>(ind)) continue;
        s.bodyparts.push_back(columns.bodyparts[static_cast<size_t>(k.bodypart)]);
        s.colors.push_back(colors[static_cast<size_t>(k.bodypart)]);
        std::vector<double> x(frames.size()), y(frames.size()), p(frames.size());
        for (int64_t r = 0; r < table.rows; ++r) {
          const double* row = table.Row(r);
          const double like = k.likelihood >= 0 ? row[k.likelihood] : 1.0;
          const bool shown = std::isfinite(like) && like > pcutoff;
          const size_t i = static_cast<size_t>(r);
          x[i] = shown ? row[k.x] : std::nan("");
          y[i] = shown ? row[k.y] : std::nan("");
          p[i] = like;
        }
        s.x.push_back(std::move(x));
        s.y.push_back(std::move(y));
        s.p.push_back(std::move(p));
      }
      if (s.bodyparts.empty()) continue;
      const std::string& name = columns.individuals[ind];
      const std::string prefix = columns.multi_animal ? name + "_" : "";
      const std::string suffix = columns.multi_animal ? " (" + name + ")" : "";
      PlotSet(s, (dir / prefix).string(), suffix, pcutoff, o, &out);
    }
    if (written != nullptr) *written = std::move(out);
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

}  // namespace posebatch
