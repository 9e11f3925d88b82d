#include "track/sort_trackers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/numpy_sum.h"
#include "predict/linear_assignment.h"

namespace posebatch::track {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Python's float modulo: the result takes the divisor's sign.
double PyMod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0) {
    if ((b < 0) != (m < 0)) m += b;
  } else {
    m = std::copysign(0.0, b);
  }
  return m;
}

// One frame's matching: the kept (detection, tracker) pairs, and the detections and trackers
// left unmatched in SORT's order (those the assignment left out, ascending, then the assigned
// pairs that failed the threshold, in assignment order).
struct Matching {
  std::vector<std::pair<int64_t, int64_t>> matches;
  std::vector<int64_t> unmatched_detections, unmatched_trackers;
};

// scipy's assignment of `cost` (detections x trackers; nothing to assign when either is none),
// split by `keep(detection, tracker)`.
template <typename Keep>
Matching Assign(const std::vector<double>& cost, int64_t rows, int64_t cols, bool maximize, Keep keep) {
  const auto pairs = rows == 0 || cols == 0 ? std::vector<std::pair<int64_t, int64_t>>{}
                                            : SolveLinearAssignment(cost, rows, cols, maximize);
  Matching m;
  std::vector<bool> row_used(static_cast<size_t>(rows)), col_used(static_cast<size_t>(cols));
  for (const auto& [r, c] : pairs) row_used[static_cast<size_t>(r)] = col_used[static_cast<size_t>(c)] = true;
  for (int64_t r = 0; r < rows; ++r)
    if (!row_used[static_cast<size_t>(r)]) m.unmatched_detections.push_back(r);
  for (int64_t c = 0; c < cols; ++c)
    if (!col_used[static_cast<size_t>(c)]) m.unmatched_trackers.push_back(c);
  for (const auto& [r, c] : pairs) {
    if (keep(r, c)) {
      m.matches.push_back({r, c});
    } else {
      m.unmatched_detections.push_back(r);
      m.unmatched_trackers.push_back(c);
    }
  }
  return m;
}

// Each matched tracker updated with its detection by `update(tracker, detection)`; returns each
// tracker's detection this frame (-1: unmatched), in tracker order.
template <typename Update>
std::vector<int64_t> UpdateMatched(std::vector<TrackerState>& trackers, const Matching& m, Update update) {
  std::vector<int64_t> detection_of;
  for (size_t t = 0; t < trackers.size(); ++t) {
    int64_t d = -1;
    if (!Contains(m.unmatched_trackers, static_cast<int64_t>(t))) {
      for (const auto& [r, c] : m.matches)  // matches[matches[:, 1] == t, 0][0]
        if (c == static_cast<int64_t>(t)) {
          d = r;
          break;
        }
      update(trackers[t], d);
    }
    detection_of.push_back(d);
  }
  return detection_of;
}

// Trackers whose prediction holds a NaN are dropped, last first (as DeepLabCut pops them).
template <typename HasNaN>
void DropNaN(std::vector<TrackerState>& trackers, HasNaN has_nan) {
  for (size_t i = trackers.size(); i-- > 0;)
    if (has_nan(trackers[i])) trackers.erase(trackers.begin() + static_cast<std::ptrdiff_t>(i));
}

Ellipse EllipseOf(const Eigen::VectorXd& x) { return {x[0], x[1], x[2], x[3], x[4]}; }

Eigen::VectorXd BoxToZ(const std::array<double, 4>& b) {
  const double w = b[2] - b[0], h = b[3] - b[1];
  Eigen::VectorXd z(4);
  z << b[0] + w / 2.0, b[1] + h / 2.0, w * h, w / h;
  return z;
}

std::array<double, 4> XToBox(const Eigen::VectorXd& x) {
  const double w = std::sqrt(x[2] * x[3]);
  const double h = x[2] / w;
  return {x[0] - w / 2.0, x[1] - h / 2.0, x[0] + w / 2.0, x[1] + h / 2.0};
}

KalmanFilter BoxFilter(const std::array<double, 4>& box) {
  KalmanFilter kf(7, 4);
  kf.F.topRightCorner(3, 3) = Eigen::MatrixXd::Identity(3, 3);  // cx, cy, s move with their velocities
  kf.H.leftCols(4) = Eigen::MatrixXd::Identity(4, 4);
  kf.R.bottomRightCorner(2, 2) *= 10.0;
  kf.P.bottomRightCorner(3, 3) *= 1000.0;
  kf.P *= 10.0;
  kf.Q(6, 6) *= 0.01;
  kf.Q.bottomRightCorner(3, 3) *= 0.01;
  kf.x.head(4) = BoxToZ(box);
  return kf;
}

KalmanFilter EllipseFilter(const Ellipse& e) {
  KalmanFilter kf = KalmanFilter::ConstantVelocity(5);
  kf.R.bottomRightCorner(3, 3) *= 10.0;
  kf.P.bottomRightCorner(5, 5) *= 1000.0;
  kf.P *= 10.0;
  kf.Q.bottomRightCorner(5, 5) *= 0.01;
  kf.x.head(5) << e.x, e.y, e.width, e.height, e.theta;
  return kf;
}

}  // namespace

void TrackerState::Predict() {
  kf.Predict();
  ++age;
  if (time_since_update > 0) hit_streak = 0;
  ++time_since_update;
}

void TrackerState::Update(const Eigen::VectorXd& z) {
  time_since_update = 0;
  ++hits;
  ++hit_streak;
  kf.Update(z);
}

std::optional<Ellipse> FitEllipse(const double* xy, int n) {
  std::vector<double> xs, ys;
  for (int i = 0; i < n; ++i) {
    if (std::isfinite(xy[2 * i]) && std::isfinite(xy[2 * i + 1])) {
      xs.push_back(xy[2 * i]);
      ys.push_back(xy[2 * i + 1]);
    }
  }
  const size_t m = xs.size();
  if (m < 3) return std::nullopt;
  // np.cov(x, y) (ddof 1), then eigh: ascending eigenvalues of the 2x2 symmetric matrix.
  const double mx = NumpyMean(xs), my = NumpyMean(ys);
  std::vector<double> dxx(m), dyy(m), dxy(m);
  for (size_t i = 0; i < m; ++i) {
    const double dx = xs[i] - mx, dy = ys[i] - my;
    dxx[i] = dx * dx;
    dyy[i] = dy * dy;
    dxy[i] = dx * dy;
  }
  // The products are summed in order, as BLAS's dot does (np.cov's X @ X.T).
  auto dot = [](const std::vector<double>& v) {
    double s = 0;
    for (double t : v) s += t;
    return s;
  };
  const double f = static_cast<double>(m - 1);
  const double a = dot(dxx) / f, c = dot(dyy) / f, b = dot(dxy) / f;
  const double mean = 0.5 * (a + c), half = 0.5 * (a - c);
  const double r = std::hypot(half, b);
  const double lmax = mean + r, lmin = mean - r;
  // The eigenvector of the larger eigenvalue, from the better-conditioned of the two forms.
  double vx, vy;
  if (b == 0) {
    vx = a > c ? 1.0 : 0.0;
    vy = a > c ? 0.0 : 1.0;
  } else if (std::abs(lmax - c) >= std::abs(lmax - a)) {
    vx = lmax - c;
    vy = b;
  } else {
    vx = b;
    vy = lmax - a;
  }
  Ellipse e{mx, my, 4.0 * std::sqrt(lmax), 4.0 * std::sqrt(lmin), PyMod(std::atan2(vy, vx), M_PI)};
  if (std::isnan(e.x) || std::isnan(e.y) || std::isnan(e.width) || std::isnan(e.height) || std::isnan(e.theta)) {
    return std::nullopt;
  }
  return e;
}

double EllipseSimilarity(const Ellipse& a, const Ellipse& b) {
  double max_dist = std::max({a.height, a.width, b.height, b.width});
  const double dist = std::hypot(a.x - b.x, a.y - b.y);
  if (max_dist == 0) max_dist = 1.0;
  const double cost1 = 1 - std::min(dist / max_dist, 1.0);
  const double cost2 = std::abs(std::cos(a.theta - b.theta));
  return 0.8 * cost1 + 0.2 * cost2 * cost1;
}

double BoxIou(const std::array<double, 4>& a, const std::array<double, 4>& b) {
  const double x1 = std::max(a[0], b[0]), y1 = std::max(a[1], b[1]);
  const double x2 = std::min(a[2], b[2]), y2 = std::min(a[3], b[3]);
  const double w = std::max(0.0, x2 - x1), h = std::max(0.0, y2 - y1);
  const double wh = w * h;
  return wh / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - wh);
}

TrackerState& SortBase::Add(KalmanFilter kf) {
  trackers_.emplace_back(std::move(kf));
  trackers_.back().id = next_id_++;
  return trackers_.back();
}

std::vector<Emission> SortBase::ReportAndPrune(const std::vector<int64_t>& detection_of) {
  std::vector<Emission> out;
  for (size_t i = trackers_.size(); i-- > 0;) {
    const TrackerState& t = trackers_[i];
    if (t.time_since_update < 1 && (t.hit_streak >= min_hits_ || n_frames_ <= min_hits_)) {
      out.push_back({t.id, detection_of[i], {}});
    }
    if (t.time_since_update > max_age_) trackers_.erase(trackers_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return out;
}

std::vector<Emission> SortEllipse::Track(const std::vector<double>& poses, int n, int k) {
  ++n_frames_;
  for (auto& t : trackers_) t.Predict();
  DropNaN(trackers_, [](const TrackerState& t) { return t.kf.x.head(5).hasNaN(); });
  std::vector<Ellipse> predicted;
  for (const auto& t : trackers_) predicted.push_back(EllipseOf(t.kf.x));
  std::vector<Ellipse> ellipses;  // compacted: the detection index is into this list (DeepLabCut's)
  for (int i = 0; i < n; ++i) {
    if (auto e = FitEllipse(poses.data() + static_cast<size_t>(i) * k * 2, k)) ellipses.push_back(*e);
  }
  const auto rows = static_cast<int64_t>(ellipses.size()), cols = static_cast<int64_t>(predicted.size());
  std::vector<double> similarity(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      similarity[static_cast<size_t>(i * cols + j)] = EllipseSimilarity(ellipses[i], predicted[j]);
  const Matching m = Assign(similarity, rows, cols, /*maximize=*/true, [&](int64_t r, int64_t c) {
    return !(similarity[static_cast<size_t>(r * cols + c)] < threshold_);
  });
  std::vector<int64_t> detection_of = UpdateMatched(trackers_, m, [&](TrackerState& t, int64_t d) {
    const Ellipse& e = ellipses[static_cast<size_t>(d)];
    Eigen::VectorXd z(5);
    z << e.x, e.y, e.width, e.height, e.theta;
    t.Update(z);
  });
  for (int64_t d : m.unmatched_detections) {
    Add(EllipseFilter(ellipses[static_cast<size_t>(d)]));
    detection_of.push_back(d);
  }
  return ReportAndPrune(detection_of);
}

std::vector<Emission> SortBox::Track(const std::vector<std::array<double, 4>>& boxes) {
  ++n_frames_;
  for (auto& t : trackers_) {
    // BoxTracker.predict: an area about to turn negative stops shrinking.
    if (t.kf.x[6] + t.kf.x[2] <= 0) t.kf.x[6] *= 0.0;
    t.Predict();
  }
  DropNaN(trackers_, [](const TrackerState& t) {
    const auto box = XToBox(t.kf.x);
    return std::isnan(box[0]) || std::isnan(box[1]) || std::isnan(box[2]) || std::isnan(box[3]);
  });
  std::vector<std::array<double, 4>> predicted;
  for (const auto& t : trackers_) predicted.push_back(XToBox(t.kf.x));
  const auto rows = static_cast<int64_t>(boxes.size()), cols = static_cast<int64_t>(predicted.size());
  // DeepLabCut's IoU matrix is float32: the assignment (of -IoU) and the threshold see rounded values.
  std::vector<double> iou(static_cast<size_t>(rows * cols)), neg(iou.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const size_t at = static_cast<size_t>(i * cols + j);
      iou[at] = static_cast<double>(static_cast<float>(BoxIou(boxes[i], predicted[j])));
      neg[at] = -iou[at];
    }
  const Matching m = Assign(neg, rows, cols, /*maximize=*/false, [&](int64_t r, int64_t c) {
    return !(iou[static_cast<size_t>(r * cols + c)] < threshold_);
  });
  // Unmatched trackers are DeepLabCut's "nix": not updated, so never reported this frame.
  std::vector<int64_t> detection_of =
      UpdateMatched(trackers_, m, [&](TrackerState& t, int64_t d) { t.Update(BoxToZ(boxes[static_cast<size_t>(d)])); });
  for (int64_t d : m.unmatched_detections) {
    Add(BoxFilter(boxes[static_cast<size_t>(d)]));
    detection_of.push_back(d);
  }
  return ReportAndPrune(detection_of);
}

namespace {

// SkeletonTracker: a constant-velocity filter over every keypoint; keypoints missing at birth
// start at the mean of the others.
KalmanFilter SkeletonFilter(const double* pose, int n) {
  KalmanFilter kf = KalmanFilter::ConstantVelocity(2 * n);
  kf.Q.bottomRightCorner(2 * n, 2 * n) *= 10;
  kf.P.bottomRightCorner(2 * n, 2 * n) *= 1000;
  double sx = 0, sy = 0;
  int cx = 0, cy = 0;
  for (int i = 0; i < n; ++i) {
    if (!std::isnan(pose[2 * i])) sx += pose[2 * i], ++cx;
    if (!std::isnan(pose[2 * i + 1])) sy += pose[2 * i + 1], ++cy;
  }
  const double fx = cx ? sx / cx : kNaN, fy = cy ? sy / cy : kNaN;  // np.nanmean over keypoints
  for (int i = 0; i < n; ++i) {
    const bool empty = std::isnan(pose[2 * i]) && std::isnan(pose[2 * i + 1]);
    kf.x[2 * i] = empty ? fx : pose[2 * i];
    kf.x[2 * i + 1] = empty ? fy : pose[2 * i + 1];
  }
  return kf;
}

// SORTSkeleton.weighted_hausdorff: the directed Hausdorff distance with scipy's early exit.
double DirectedHausdorff(const double* x, const Eigen::VectorXd& y, int n) {
  double cmax = 0;
  for (int i = 0; i < n; ++i) {
    bool no_break = true;
    double cmin = std::numeric_limits<double>::infinity();
    for (int j = 0; j < n; ++j) {
      const double dx = x[2 * i] - y[2 * j], dy = x[2 * i + 1] - y[2 * j + 1];
      const double d = dx * dx + dy * dy;
      if (d < cmax) {
        no_break = false;
        break;
      }
      if (d < cmin) cmin = d;
    }
    if (cmin != std::numeric_limits<double>::infinity() && cmin > cmax && no_break) cmax = cmin;
  }
  return std::sqrt(cmax);
}

// SkeletonTracker.update: with every keypoint, the tracker's update; with missing ones, their
// rows of H and z zeroed and the filter alone updated (DeepLabCut skips the bookkeeping there).
void UpdateSkeleton(const double* pose, Eigen::Index size, TrackerState* tracker) {
  Eigen::VectorXd z(size);
  bool any_empty = false;
  for (Eigen::Index i = 0; i < size; ++i) {
    z[i] = pose[i];
    any_empty = any_empty || std::isnan(pose[i]);
  }
  if (!any_empty) {
    tracker->Update(z);
    return;
  }
  Eigen::MatrixXd h = tracker->kf.H;
  for (Eigen::Index i = 0; i < size; ++i) {
    if (std::isnan(pose[i])) {
      h.row(i).setZero();
      z[i] = 0;
    }
  }
  tracker->kf.Update(z, h);
}

}  // namespace

std::vector<Emission> SortSkeleton::Track(const std::vector<double>& poses, int n) {
  ++n_frames_;
  const size_t stride = static_cast<size_t>(2 * n_);
  if (trackers_.empty()) {
    for (int i = 0; i < n; ++i) Add(SkeletonFilter(poses.data() + i * stride, n_));
  }
  for (auto& t : trackers_) t.Predict();
  const auto rows = static_cast<int64_t>(n), cols = static_cast<int64_t>(trackers_.size());
  std::vector<double> cost(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      cost[static_cast<size_t>(i * cols + j)] =
          DirectedHausdorff(poses.data() + i * stride, trackers_[static_cast<size_t>(j)].kf.x, n_);
  const Matching m = Assign(cost, rows, cols, /*maximize=*/false, [](int64_t, int64_t) { return true; });
  std::vector<int64_t> detection_of = UpdateMatched(trackers_, m, [&](TrackerState& t, int64_t d) {
    UpdateSkeleton(poses.data() + static_cast<size_t>(d) * stride, static_cast<Eigen::Index>(stride), &t);
  });
  for (int64_t d : m.unmatched_detections) {
    Add(SkeletonFilter(poses.data() + static_cast<size_t>(d) * stride, n_));
    detection_of.push_back(d);
  }
  // Reversed; dead trackers go, the others predict once more and report that prediction (so a
  // reported tracker has advanced twice this frame).
  std::vector<Emission> out;
  for (size_t i = trackers_.size(); i-- > 0;) {
    TrackerState& t = trackers_[i];
    if (t.time_since_update > max_age_) {
      trackers_.erase(trackers_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    t.Predict();
    Emission e{t.id, detection_of[i], {}};
    e.state.assign(t.kf.x.data(), t.kf.x.data() + stride);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace posebatch::track
