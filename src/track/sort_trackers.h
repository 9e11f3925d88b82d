// DeepLabCut's SORT-style trackers (deeplabcut/core/trackingutils.py, 3.0.1), one per
// track_method: ellipses fitted to each animal's keypoints (the default), boxes around them,
// or the skeleton. Each Track() call is one tracked frame: trackers predict, detections are
// assigned (scipy's linear_sum_assignment rules), matched trackers update, new trackers are
// born, and the trackers that are reported this frame come back in DeepLabCut's order (the
// tracker list reversed). Ids count from 0 per instance. Not thread-safe.
// Facts: ../shared/reference/tracking.md §2.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "track/kalman_filter.h"

namespace posebatch::track {

// A tracker reported this frame: its id, and the detection it matched (for the ellipse tracker
// an index into the frame's fitted ellipses, as DeepLabCut's; -1: the skeleton tracker's own
// prediction, `state`, for a tracker without a detection).
struct Emission {
  int64_t id = 0;
  int64_t detection = -1;
  std::vector<double> state;  // skeleton only: the predicted (x, y) of every keypoint
};

struct TrackerState {
  explicit TrackerState(KalmanFilter k) : kf(std::move(k)) {}
  KalmanFilter kf;
  int64_t id = 0;
  int time_since_update = 0, age = 0, hits = 0, hit_streak = 0;
  void Predict();                         // BaseTracker.predict's bookkeeping around kf.Predict
  void Update(const Eigen::VectorXd& z);  // BaseTracker.update
};

struct Ellipse {
  double x = 0, y = 0, width = 0, height = 0, theta = 0;
};

// EllipseFitter(sd=2).fit: `n` points (x, y pairs); rows with a non-finite value are left out;
// none with fewer than 3 points or a NaN parameter.
std::optional<Ellipse> FitEllipse(const double* xy, int n);
double EllipseSimilarity(const Ellipse& a, const Ellipse& b);  // Ellipse.calc_similarity_with

// The SORT bookkeeping shared by the three: frame count, tracker list, id counter, thresholds.
class SortBase {
 public:
  SortBase(int max_age, int min_hits) : max_age_(max_age), min_hits_(min_hits) {}

 protected:
  // The trackers reported this frame, reversed, and the removal of the dead (SORTBox/SORTEllipse).
  std::vector<Emission> ReportAndPrune(const std::vector<int64_t>& detection_of);
  TrackerState& Add(KalmanFilter kf);

  int max_age_, min_hits_;
  int64_t n_frames_ = 0, next_id_ = 0;
  std::vector<TrackerState> trackers_;
};

class SortEllipse : public SortBase {
 public:
  SortEllipse(int max_age, int min_hits, double threshold) : SortBase(max_age, min_hits), threshold_(threshold) {}
  // poses: n animals x k keypoints x (x, y), NaN where missing.
  std::vector<Emission> Track(const std::vector<double>& poses, int n, int k);

 private:
  double threshold_;
};

class SortBox : public SortBase {
 public:
  SortBox(int max_age, int min_hits, double threshold) : SortBase(max_age, min_hits), threshold_(threshold) {}
  // boxes: x1, y1, x2, y2 per animal.
  std::vector<Emission> Track(const std::vector<std::array<double, 4>>& boxes);

 private:
  double threshold_;
};

class SortSkeleton : public SortBase {
 public:
  SortSkeleton(int n_bodyparts, int max_age, int min_hits) : SortBase(max_age, min_hits), n_(n_bodyparts) {}
  // poses: n animals x n_bodyparts x (x, y), NaN where missing.
  std::vector<Emission> Track(const std::vector<double>& poses, int n);

 private:
  int n_;
};

// calc_iou of DeepLabCut's box tracker (no +1 pixel).
double BoxIou(const std::array<double, 4>& a, const std::array<double, 4>& b);

}  // namespace posebatch::track
