// TrackletStitcher as DeepLabCut 3.0.1 runs it from stitch_tracklets (tracking.md §3): purify
// and split the tracklets, pre-stitch the residuals, link tracklets across gaps by centroid
// distance, solve the min-cost flow (or take the fallback), fit the residuals back in.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "common/numpy_sum.h"
#include "track/stitch_parts.h"

namespace posebatch {
namespace stitch {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t Width(const TrackletRows& t) { return static_cast<size_t>(t.keypoints * t.columns); }

// Python's max(a, b) / min(a, b): the first argument unless the second compares greater / less
// (so NaN arguments behave as in calc_iou).
double PyMax(double a, double b) { return b > a ? b : a; }
double PyMin(double a, double b) { return b < a ? b : a; }

// calc_bbox: nanmin / nanmax of x, y over the keypoints of row i.
std::array<double, 4> BoxAt(const TrackletRows& t, size_t i) {
  std::array<double, 4> box = {kNaN, kNaN, kNaN, kNaN};
  const double* r = t.row(i);
  for (int64_t j = 0; j < t.keypoints; ++j) {
    for (int q = 0; q < 2; ++q) {
      const double v = r[j * t.columns + q];
      if (std::isnan(v)) continue;
      box[q] = std::isnan(box[q]) ? v : std::min(box[q], v);
      box[q + 2] = std::isnan(box[q + 2]) ? v : std::max(box[q + 2], v);
    }
  }
  return box;
}

}  // namespace

TrackletRows Concat(const TrackletRows& a, const TrackletRows& b) {
  TrackletRows out = a;
  if (out.columns == 0) {
    out.keypoints = b.keypoints;
    out.columns = b.columns;
  }
  out.frames.insert(out.frames.end(), b.frames.begin(), b.frames.end());
  out.values.insert(out.values.end(), b.values.begin(), b.values.end());
  bool increasing = true;
  for (size_t i = 1; i < out.frames.size(); ++i) increasing = increasing && out.frames[i - 1] < out.frames[i];
  if (increasing) return out;
  std::vector<size_t> order(out.frames.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return out.frames[x] < out.frames[y]; });
  TrackletRows sorted = out;
  const size_t w = Width(out);
  for (size_t i = 0; i < order.size(); ++i) {
    sorted.frames[i] = out.frames[order[i]];
    std::copy_n(out.values.begin() + static_cast<std::ptrdiff_t>(order[i] * w), w,
                sorted.values.begin() + static_cast<std::ptrdiff_t>(i * w));
  }
  return sorted;
}

std::array<double, 2> Centroid(const TrackletRows& t, size_t i) {
  // nansum(xy * (lik + 1e-10), axis=1) / nansum(lik + 1e-10, axis=1): numpy adds the
  // numerator keypoint by keypoint (a strided reduction) and the denominator pairwise.
  const double* r = t.row(i);
  std::vector<double> weights;
  double sx = 0, sy = 0;
  for (int64_t j = 0; j < t.keypoints; ++j) {
    const double like = r[j * t.columns + 2] + 1e-10;
    weights.push_back(std::isnan(like) ? 0.0 : like);
    const double x = r[j * t.columns] * like, y = r[j * t.columns + 1] * like;
    if (!std::isnan(x)) sx += x;
    if (!std::isnan(y)) sy += y;
  }
  const double total = NumpyPairwiseSum(weights.data(), static_cast<int64_t>(weights.size()));
  return {sx / total, sy / total};
}

double Identity(const TrackletRows& t) {
  if (t.columns < 4) return -1;
  std::map<double, int64_t> counts;
  for (size_t i = 0; i < t.size(); ++i) {
    for (int64_t j = 0; j < t.keypoints; ++j) {
      const double id = t.row(i)[j * t.columns + 3];
      if (!std::isnan(id)) ++counts[id];
    }
  }
  double best = -1;
  int64_t best_count = 0;
  for (const auto& [id, n] : counts) {  // ascending: the smallest wins ties
    if (n > best_count) {
      best = id;
      best_count = n;
    }
  }
  return best;
}

bool Overlaps(const TrackletRows& a, const TrackletRows& b) {
  if (a.size() == 0 || b.size() == 0 || a.frames.back() < b.frames.front() || b.frames.back() < a.frames.front()) {
    return false;
  }
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a.frames[i] == b.frames[j]) return true;
    if (a.frames[i] < b.frames[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return false;
}

double BoxOverlap(const TrackletRows& a, const TrackletRows& b) {
  if (Overlaps(a, b)) return 0;
  const std::array<double, 4> b1 = BoxAt(a, a.size() - 1), b2 = BoxAt(b, 0);
  const double x1 = PyMax(b1[0], b2[0]), y1 = PyMax(b1[1], b2[1]);
  const double x2 = PyMin(b1[2], b2[2]), y2 = PyMin(b1[3], b2[3]);
  const double w = PyMax(0, x2 - x1), h = PyMax(0, y2 - y1);
  const double wh = w * h;
  return wh / ((b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - wh);
}

}  // namespace stitch

namespace {

using stitch::Concat;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// purify_tracklet: rows whose x, y are all NaN go; false when nothing is left.
bool Purify(const TrackletRows& t, TrackletRows* out) {
  *out = TrackletRows{};
  out->keypoints = t.keypoints;
  out->columns = t.columns;
  const size_t w = static_cast<size_t>(t.keypoints * t.columns);
  for (size_t i = 0; i < t.size(); ++i) {
    const double* r = t.row(i);
    bool any = false;
    for (int64_t j = 0; j < t.keypoints && !any; ++j) {
      any = !std::isnan(r[j * t.columns]) || !std::isnan(r[j * t.columns + 1]);
    }
    if (!any) continue;
    out->frames.push_back(t.frames[i]);
    out->values.insert(out->values.end(), r, r + w);
  }
  return out->size() > 0;
}

// split_tracklet at every frame jump.
std::vector<TrackletRows> SplitAtGaps(const TrackletRows& t) {
  std::vector<TrackletRows> pieces;
  size_t begin = 0;
  for (size_t i = 1; i <= t.size(); ++i) {
    if (i == t.size() || t.frames[i] - t.frames[i - 1] != 1) {
      TrackletRows p;
      p.keypoints = t.keypoints;
      p.columns = t.columns;
      const size_t w = static_cast<size_t>(t.keypoints * t.columns);
      p.frames.assign(t.frames.begin() + static_cast<std::ptrdiff_t>(begin),
                      t.frames.begin() + static_cast<std::ptrdiff_t>(i));
      p.values.assign(t.values.begin() + static_cast<std::ptrdiff_t>(begin * w),
                      t.values.begin() + static_cast<std::ptrdiff_t>(i * w));
      pieces.push_back(std::move(p));
      begin = i;
    }
  }
  return pieces;
}

bool IsContinuous(const TrackletRows& t) {
  return t.frames.back() - t.frames.front() + 1 == static_cast<int64_t>(t.size());
}

// compute_max_gap over the start-sorted nodes: each one's smallest positive gap to a later
// one, the largest of those. A positive gap needs the later one to start after this one ends,
// and starts are sorted: the first such start is the smallest.
int64_t ComputeMaxGap(const std::vector<TrackletRows>& nodes) {
  int64_t max_gap = 0;
  for (size_t i = 0; i + 1 < nodes.size(); ++i) {
    const int64_t end = nodes[i].frames.back();
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      const int64_t gap = nodes[j].frames.front() - end;
      if (gap > 0 && !stitch::Overlaps(nodes[i], nodes[j])) {
        max_gap = std::max(max_gap, gap);
        break;
      }
    }
  }
  return max_gap;
}

// build_graph's links: i -> j for 0 < gap <= max_gap, weight int(100 * w).
std::vector<stitch::Link> BuildLinks(const std::vector<TrackletRows>& nodes, int64_t max_gap, bool with_id) {
  std::vector<stitch::Link> links;
  std::vector<double> ids;
  for (const auto& t : nodes) ids.push_back(with_id ? stitch::Identity(t) : -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const int64_t end = nodes[i].frames.back();
    const auto c1 = stitch::Centroid(nodes[i], nodes[i].size() - 1);
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      const int64_t gap = nodes[j].frames.front() - end;
      if (gap > max_gap) break;
      if (gap <= 0) continue;
      const auto c2 = stitch::Centroid(nodes[j], 0);
      const double dx = c1[0] - c2[0], dy = c1[1] - c2[1];
      double w = std::sqrt(dx * dx + dy * dy);
      if (with_id) w = (ids[i] == ids[j] ? 0.01 : 1.0) * w;
      links.push_back({i, j, static_cast<int64_t>(std::trunc(100 * w))});
    }
  }
  return links;
}

// dx.std() / |dx|.mean() of the centroid's steps (the fallback's smoothness test).
double StepVariation(const TrackletRows& t) {
  std::vector<double> dx, absdx;
  std::array<double, 2> prev = stitch::Centroid(t, 0);
  for (size_t i = 1; i < t.size(); ++i) {
    const auto c = stitch::Centroid(t, i);
    for (int q = 0; q < 2; ++q) dx.push_back(c[q] - prev[q]);
    prev = c;
  }
  if (dx.empty()) return kNaN;
  const double mean = NumpyMean(dx);
  std::vector<double> sq;
  for (double v : dx) {
    sq.push_back((v - mean) * (v - mean));
    absdx.push_back(std::abs(v));
  }
  return std::sqrt(NumpyMean(sq)) / NumpyMean(absdx);
}

struct Stitcher {
  std::vector<TrackletRows> nodes;      // tracklets, sorted by start
  std::vector<TrackletRows> residuals;  // short pieces, fitted in at the end
  int64_t n_tracks = 0;
  std::vector<std::string>* notes = nullptr;

  // Paths of node indices from the fallback (stitch's except-branch).
  std::vector<std::vector<size_t>> Fallback(const std::vector<stitch::Link>& links) {
    if (notes) notes->push_back("No optimal solution found. Employing black magic...");
    std::vector<size_t> by_start(nodes.size()), by_end(nodes.size());
    std::iota(by_start.begin(), by_start.end(), size_t{0});
    std::iota(by_end.begin(), by_end.end(), size_t{0});
    std::stable_sort(by_end.begin(), by_end.end(),
                     [&](size_t a, size_t b) { return nodes[a].frames.back() < nodes[b].frames.back(); });
    std::vector<bool> first(nodes.size()), last(nodes.size());
    const size_t keep = std::min<size_t>(static_cast<size_t>(n_tracks), nodes.size());
    for (size_t i = 0; i < keep; ++i) {
      first[by_start[i]] = true;
      last[by_end[by_end.size() - 1 - i]] = true;
    }
    std::vector<std::vector<size_t>> paths;
    if (!stitch::DisjointPaths(nodes.size(), links, first, last, n_tracks, &paths)) {
      throw Error(Status::InvalidArgument("no path from a first to a last tracklet"));  // NetworkXNoPath
    }
    std::vector<bool> used(nodes.size());
    for (const auto& p : paths)
      for (size_t i : p) used[i] = true;
    std::vector<size_t> remaining;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (!used[i]) remaining.push_back(i);
    const int64_t incomplete = n_tracks - static_cast<int64_t>(paths.size());
    if (!remaining.empty() && incomplete == 1) {
      paths.push_back(OneTrackOf(remaining));
    } else if (!remaining.empty() && incomplete > 1) {
      std::vector<TrackletRows> rest;
      for (size_t i : remaining) rest.push_back(nodes[i]);
      std::vector<stitch::Link> all = BuildLinks(rest, std::numeric_limits<int64_t>::max(), false);
      std::vector<std::vector<size_t>> more;
      if (!stitch::MinCostPaths(rest.size(), all, incomplete, &more)) {
        throw Error(Status::InvalidArgument("the remaining tracklets cannot form the missing tracks"));
      }
      for (auto& p : more) {
        for (size_t& i : p) i = remaining[i];
        paths.push_back(p);
      }
    }
    if (static_cast<int64_t>(paths.size()) != n_tracks && notes) {
      notes->push_back("Only " + std::to_string(paths.size()) + " tracks could be reconstructed.");
    }
    return paths;
  }

  // incomplete == 1: every remaining tracklet is one track; of two that overlap, the one whose
  // track moves more smoothly stays, the other becomes a residual.
  std::vector<size_t> OneTrackOf(std::vector<size_t> remaining) {
    const std::vector<size_t> pairs_of = remaining;
    auto contains = [&](size_t i) { return std::find(remaining.begin(), remaining.end(), i) != remaining.end(); };
    for (size_t a = 0; a < pairs_of.size(); ++a) {
      for (size_t b = a + 1; b < pairs_of.size(); ++b) {
        const size_t t1 = pairs_of[a], t2 = pairs_of[b];
        if (!stitch::Overlaps(nodes[t2], nodes[t1])) continue;
        if (contains(t1)) remaining.erase(std::find(remaining.begin(), remaining.end(), t1));
        if (contains(t2)) remaining.erase(std::find(remaining.begin(), remaining.end(), t2));
        TrackletRows track;
        for (size_t i : remaining) track = Concat(track, nodes[i]);
        const double cv1 = StepVariation(Concat(track, nodes[t1]));
        const double cv2 = StepVariation(Concat(track, nodes[t2]));
        const size_t keep = cv1 < cv2 ? t1 : t2;
        remaining.push_back(keep);
        residuals.push_back(nodes[keep == t1 ? t2 : t1]);
      }
    }
    std::sort(remaining.begin(), remaining.end());
    return remaining;
  }

  // _finalize_tracks: residuals that fit one track only go there, repeatedly; the rest go,
  // greedily, to the nearest track (with DeepLabCut's index defect).
  void FitResiduals(std::vector<TrackletRows>* tracks) {
    std::vector<TrackletRows> res;
    for (const auto& r : residuals)
      if (r.size() > 1) res.push_back(r);
    std::stable_sort(res.begin(), res.end(),
                     [](const TrackletRows& a, const TrackletRows& b) { return a.size() < b.size(); });
    std::vector<bool> gone(res.size());
    auto left = [&] { return std::count(gone.begin(), gone.end(), false); };
    auto fits_of = [&](const TrackletRows& r) {
      std::vector<size_t> fits;
      for (size_t i = 0; i < tracks->size(); ++i)
        if (!stitch::Overlaps((*tracks)[i], r)) fits.push_back(i);
      return fits;
    };
    size_t attempts = 0;
    const size_t n_max = res.size();
    while (attempts < n_max && left() > 0) {
      for (size_t k = res.size(); k-- > 0;) {
        if (gone[k]) continue;
        const std::vector<size_t> fits = fits_of(res[k]);
        if (fits.empty()) {
          gone[k] = true;
        } else if (fits.size() == 1) {
          (*tracks)[fits[0]] = Concat((*tracks)[fits[0]], res[k]);
          gone[k] = true;
          attempts = 0;
        } else {
          ++attempts;
        }
      }
    }
    for (size_t k = res.size(); k-- > 0;) {
      if (gone[k]) continue;
      const TrackletRows& r = res[k];
      const auto c_start = stitch::Centroid(r, 0), c_end = stitch::Centroid(r, r.size() - 1);
      const std::vector<size_t> fits = fits_of(r);
      std::vector<std::pair<size_t, double>> dists;
      for (size_t n = 0; n < fits.size(); ++n) {
        const TrackletRows& track = (*tracks)[fits[n]];
        const auto e_it = std::lower_bound(track.frames.begin(), track.frames.end(), r.frames.back());
        const size_t e = static_cast<size_t>(e_it - track.frames.begin());
        if (e >= track.size()) continue;                     // IndexError: the residual ends after the track
        const size_t s = e == 0 ? track.size() - 1 : e - 1;  // s = -1 wraps to the last row
        const int64_t left_gap = r.frames.front() - track.frames[s], right_gap = track.frames[e] - r.frames.back();
        if (!(left_gap > 0) && right_gap > 0) continue;
        auto norm = [](const std::array<double, 2>& a, const std::array<double, 2>& b) {
          return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]));
        };
        double dist;
        if (left_gap <= 3) {
          dist = norm(stitch::Centroid(track, s), c_start);
        } else if (right_gap <= 3) {
          dist = norm(stitch::Centroid(track, e), c_end);
        } else {
          dist = norm(stitch::Centroid(track, s), c_start) + norm(stitch::Centroid(track, e), c_end);
        }
        dists.emplace_back(n, dist);
      }
      if (dists.empty()) continue;
      size_t ind;
      if (dists.size() == 1) {
        ind = fits[dists[0].first];
      } else {  // DeepLabCut takes the position within the fits as a track index
        std::stable_sort(dists.begin(), dists.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
        ind = dists[0].first;
      }
      (*tracks)[ind] = Concat((*tracks)[ind], r);
      gone[k] = true;
    }
  }
};

}  // namespace

Status StitchTracklets(const TrackletFile& file, const StitchOptions& options, StitchedTracks* out,
                       std::vector<std::string>* notes) {
  try {
    if (options.n_tracks < 1) return Status::InvalidArgument("There must at least be one track to reconstruct.");
    if (options.min_length < 3) return Status::InvalidArgument("A tracklet must have a minimal length of 3.");
    Stitcher s;
    s.n_tracks = options.n_tracks;
    s.notes = notes;
    for (const TrackletRows& raw : file.tracklets) {
      TrackletRows t;
      if (!Purify(raw, &t)) continue;
      std::vector<TrackletRows> pieces;
      if (!IsContinuous(t) && options.split_tracklets) {
        pieces = SplitAtGaps(t);
      } else {
        pieces.push_back(std::move(t));
      }
      for (auto& p : pieces)
        (static_cast<int64_t>(p.size()) >= options.min_length ? s.nodes : s.residuals).push_back(std::move(p));
    }
    if (s.nodes.empty()) {  // DeepLabCut: OSError("Tracklets are empty.")
      return Status::InvalidArgument("Tracklets are empty: none spans min_length (" +
                                     std::to_string(options.min_length) +
                                     ") frames (a short video? a lower --min-length, at least 3, may do)");
    }
    if (options.prestitch_residuals) stitch::PrestitchResiduals(&s.residuals, 5);
    std::stable_sort(s.nodes.begin(), s.nodes.end(),
                     [](const TrackletRows& a, const TrackletRows& b) { return a.frames.front() < b.frames.front(); });

    bool with_id = false;
    for (const auto& t : s.nodes) with_id = with_id || stitch::Identity(t) != -1;
    const int64_t max_gap = options.max_gap > 0
                                ? int64_t{options.max_gap}
                                : static_cast<int64_t>(1.5 * static_cast<double>(ComputeMaxGap(s.nodes)));
    const std::vector<stitch::Link> links = BuildLinks(s.nodes, max_gap, with_id);
    std::vector<std::vector<size_t>> paths;
    if (!stitch::MinCostPaths(s.nodes.size(), links, s.n_tracks, &paths)) {
      try {
        paths = s.Fallback(links);
      } catch (const Error& e) {
        return Status::InvalidArgument("Could not reconstruct " + std::to_string(s.n_tracks) +
                                       " tracks from the tracklets given (" + e.status().message() + ")");
      }
    }
    std::vector<TrackletRows> tracks;
    for (const auto& p : paths) {
      if (p.empty()) continue;
      TrackletRows track;
      for (size_t i : p) track = Concat(track, s.nodes[i]);
      tracks.push_back(std::move(track));
    }
    if (tracks.empty()) {
      return Status::InvalidArgument("Could not reconstruct " + std::to_string(s.n_tracks) +
                                     " tracks from the tracklets given (no path)");
    }
    s.FitResiduals(&tracks);
    std::vector<double> ids;
    for (const auto& t : tracks) ids.push_back(stitch::Identity(t));
    std::vector<size_t> order(tracks.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a] < ids[b]; });
    *out = StitchedTracks{};
    out->n_tracks = options.n_tracks;
    for (size_t i : order) out->tracks.push_back(std::move(tracks[i]));
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace posebatch
