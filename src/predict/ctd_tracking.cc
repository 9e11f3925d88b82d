#include "predict/ctd_tracking.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "posebatch/status.h"

namespace posebatch {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kEps = 2.220446049250313e-16;  // numpy's spacing(1), added to each extent
constexpr double kOksSigma = 0.1;               // DeepLabCut's tracking uses one sigma for all

bool Finite3(const float* p) { return !std::isnan(p[0]) && !std::isnan(p[1]) && !std::isnan(p[2]); }
void Mask(float* p) { p[0] = p[1] = p[2] = kNaN; }

int64_t VisibleKeypoints(const float* pose, int64_t k) {
  int64_t n = 0;
  for (int64_t j = 0; j < k; ++j) n += Finite3(pose + 3 * j) ? 1 : 0;
  return n;
}

// numpy's nanmean over a pose's float32 scores: a float32 sum (in order: numpy's pairwise
// summation adds fewer than 9 values one by one), divided in float64, rounded to float32.
double NanMeanScore(const float* pose, int64_t k) {
  float sum = 0;
  int64_t n = 0;
  for (int64_t j = 0; j < k; ++j) {
    if (!std::isnan(pose[3 * j + 2])) sum += pose[3 * j + 2], ++n;
  }
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<float>(static_cast<double>(sum) / static_cast<double>(n));
}

// numpy's values.argsort()[::-1] on the few values of a frame (numpy sorts arrays of up to 16
// by insertion, which keeps ties in index order): ascending, then reversed.
std::vector<int64_t> DescendingOrder(const std::vector<double>& values) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return values[a] < values[b]; });
  std::reverse(order.begin(), order.end());
  return order;
}

at::Tensor FloatCopy(const at::Tensor& t) { return t.to(at::kFloat).contiguous().clone(); }

}  // namespace

void ParseCtdTrackingOptions(const std::string& text, CtdTrackingOptions* options) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    const size_t eq = item.find('=');
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(' '));
      s.erase(s.find_last_not_of(' ') + 1);
      return s;
    };
    const std::string key = trim(item.substr(0, eq));
    const std::string value = eq == std::string::npos ? std::string() : trim(item.substr(eq + 1));
    auto bad = [&](const std::string& why) {
      return Error(Status::InvalidArgument("CTD tracking setting '" + item + "': " + why));
    };
    if (eq == std::string::npos || value.empty()) throw bad("expected key=value");
    auto number = [&]() {
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(value, &used);
      } catch (...) {
        used = 0;
      }
      if (used != value.size() || !std::isfinite(v)) throw bad("not a number");
      return v;
    };
    auto frames = [&]() {
      const double v = number();
      if (v < 0 || v != std::floor(v) || v > 1e9) throw bad("expected a whole number of frames >= 0");
      return static_cast<int>(v);
    };
    auto flag = [&]() {
      if (value == "true" || value == "True" || value == "1") return true;
      if (value == "false" || value == "False" || value == "0") return false;
      throw bad("expected true or false");
    };
    if (key == "bu_on_lost_idv") {
      options->bu_on_lost_idv = flag();
    } else if (key == "bu_min_frequency") {
      options->bu_min_frequency = (value == "none" || value == "None") ? -1 : frames();
    } else if (key == "bu_max_frequency") {
      options->bu_max_frequency = frames();
    } else if (key == "threshold_bu_add") {
      options->threshold_bu_add = number();
    } else if (key == "threshold_ctd") {
      options->threshold_ctd = number();
    } else if (key == "threshold_nms") {
      options->threshold_nms = number();
    } else if (key == "stable_rows") {
      options->stable_rows = flag();
    } else {
      throw bad(
          "unknown key (known: bu_on_lost_idv, bu_min_frequency, bu_max_frequency, threshold_bu_add, "
          "threshold_ctd, threshold_nms, stable_rows)");
    }
  }
}

std::string DescribeCtdTrackingOptions(const CtdTrackingOptions& o) {
  // Every field, by structured binding: the resume journal's key (analyze/resume_plan.cc) is this
  // text, so a field added to CtdTrackingOptions must not compile until it is described here.
  [[maybe_unused]] const auto& [bu_on_lost_idv, bu_min_frequency, bu_max_frequency, threshold_bu_add, threshold_ctd,
                                threshold_nms, stable_rows] = o;
  std::ostringstream out;
  out.precision(17);
  out << "bu_on_lost_idv=" << (o.bu_on_lost_idv ? "true" : "false")
      << ",bu_min_frequency=" << (o.bu_min_frequency < 0 ? std::string("none") : std::to_string(o.bu_min_frequency))
      << ",bu_max_frequency=" << o.bu_max_frequency << ",threshold_bu_add=" << o.threshold_bu_add
      << ",threshold_ctd=" << o.threshold_ctd << ",threshold_nms=" << o.threshold_nms
      << ",stable_rows=" << (o.stable_rows ? "true" : "false");
  return out.str();
}

double TrackingOks(const float* pred, const float* truth, int64_t k, double sigma, double margin) {
  // float32 throughout, as numpy 1.x evaluates DeepLabCut's expression on float32 poses: its
  // scalars (spacing(1), the margin) do not widen the arrays; only the denominator is a
  // float64 scalar, rounded to float32 for the division. Values of 0 (exp underflow) are common
  // and order the poses DeepLabCut merges, so the precision matters.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Keypoints of `truth` with any finite value are visible; the extent of each of the three
  // columns (x, y and the score, as DeepLabCut passes whole (K, 3) poses) is the scale.
  std::vector<int64_t> visible;
  for (int64_t j = 0; j < k; ++j) {
    const float* t = truth + 3 * j;
    if (!std::isnan(t[0]) || !std::isnan(t[1]) || !std::isnan(t[2])) visible.push_back(j);
  }
  if (visible.size() < 2) return nan;
  float scale2 = 1;
  for (int c = 0; c < 3; ++c) {
    float lo = truth[3 * visible[0] + c], hi = lo;
    for (int64_t j : visible) {
      const float v = truth[3 * j + c];
      if (std::isnan(v) || std::isnan(lo)) {
        lo = hi = v;  // np.ptp propagates NaN
        break;
      }
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    const float extent = ((hi - lo) + static_cast<float>(kEps)) + static_cast<float>(margin * 2);
    scale2 = c == 0 ? extent : scale2 * extent;
  }
  if (std::fabs(static_cast<double>(scale2)) <= 1e-8) return nan;  // np.isclose(scale, 0)
  const float denom = static_cast<float>(2.0 * static_cast<double>(scale2) * ((2 * sigma) * (2 * sigma)));
  float sum = 0;
  for (int64_t j : visible) {
    float d2 = 0;
    for (int c = 0; c < 3; ++c) {
      const float p = std::isnan(pred[3 * j + c]) ? std::numeric_limits<float>::infinity() : pred[3 * j + c];
      const float d = p - truth[3 * j + c];
      d2 = c == 0 ? d * d : d2 + d * d;
    }
    sum += std::exp(-d2 / denom);
  }
  return static_cast<float>(static_cast<double>(sum) / static_cast<double>(visible.size()));
}

std::vector<bool> NmsOks(const at::Tensor& poses, double oks_threshold, double sigma, double margin,
                         double score_threshold, const std::vector<int64_t>* order) {
  const int64_t n = poses.size(0);
  if (n == 0) return {};
  if (n == 1) return {true};
  const int64_t k = poses.size(1);
  at::Tensor copy = FloatCopy(poses);
  float* p = copy.data_ptr<float>();
  std::vector<bool> visible(static_cast<size_t>(n));
  bool any = false;
  for (int64_t i = 0; i < n; ++i) {
    float* pose = p + i * k * 3;
    for (int64_t j = 0; j < k; ++j) {
      if (pose[3 * j + 2] < score_threshold || !Finite3(pose + 3 * j)) Mask(pose + 3 * j);
    }
    visible[i] = VisibleKeypoints(pose, k) > 1;  // OKS needs 2 keypoints
    any = any || visible[i];
  }
  std::vector<bool> keep(static_cast<size_t>(n), false);
  if (!any) return keep;
  std::vector<int64_t> todo;
  if (order != nullptr) {
    todo = *order;
  } else {
    std::vector<double> scores(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < n; ++i)
      if (visible[i]) scores[i] = NanMeanScore(p + i * k * 3, k);
    for (int64_t i : DescendingOrder(scores))
      if (scores[i] > 0) todo.push_back(i);
  }
  while (!todo.empty()) {
    const int64_t i = todo.front();
    keep[i] = true;
    std::vector<int64_t> rest;
    for (size_t r = 1; r < todo.size(); ++r) {
      const double oks = TrackingOks(p + i * k * 3, p + todo[r] * k * 3, k, sigma, margin);
      if (oks < oks_threshold) rest.push_back(todo[r]);  // NaN: suppressed, as DeepLabCut
    }
    todo.swap(rest);
  }
  return keep;
}

bool CtdTracker::BeginFrame() {
  ++source_age_;
  const bool tracking = tracks_.defined();
  rescore_ = !tracking;
  const bool run = !tracking || (missing_ && options_.bu_on_lost_idv && source_age_ >= options_.bu_max_frequency) ||
                   (options_.bu_min_frequency >= 0 && source_age_ >= options_.bu_min_frequency);
  if (run) {
    source_age_ = 0;
    ++source_runs_;
  }
  return run;
}

at::Tensor CtdTracker::Conditions(const at::Tensor& source) {
  if (!source.defined()) return tracks_;
  if (!tracks_.defined()) return FloatCopy(source);
  return MergeSourcePoses(source);
}

at::Tensor CtdTracker::MergeSourcePoses(const at::Tensor& source) const {
  const int64_t k = tracks_.size(1);
  at::Tensor cand = FloatCopy(source);
  if (cand.size(0) == 0) return tracks_;
  float* c = cand.data_ptr<float>();
  const float* t = tracks_.data_ptr<float>();
  struct Added {
    double oks;
    int64_t pose;
  };
  std::vector<Added> added;
  for (int64_t i = 0; i < cand.size(0); ++i) {
    float* pose = c + i * k * 3;
    for (int64_t j = 0; j < k; ++j) {
      if (pose[3 * j + 2] < options_.threshold_ctd) Mask(pose + 3 * j);
    }
    if (VisibleKeypoints(pose, k) <= 1) continue;
    double best = 0;
    for (int64_t r = 0; r < tracks_.size(0); ++r) {
      const double oks = TrackingOks(pose, t + r * k * 3, k, kOksSigma, 0.0);
      if (oks > best) best = oks;  // Python's max(best, nan) keeps best
    }
    if (best < options_.threshold_bu_add) added.push_back({best, i});
  }
  if (added.empty()) return tracks_;
  std::stable_sort(added.begin(), added.end(), [](const Added& a, const Added& b) { return a.oks < b.oks; });
  std::vector<at::Tensor> parts{tracks_};
  for (const Added& a : added) parts.push_back(cand.narrow(0, a.pose, 1));
  at::Tensor merged = at::cat(parts, 0);
  const int64_t rows = std::min<int64_t>(merged.size(0), static_cast<int64_t>(row_of_.size()));
  return merged.narrow(0, 0, rows).contiguous();
}

at::Tensor CtdTracker::EndFrame(const at::Tensor& poses, int frame_w, int frame_h) {
  const int64_t k = poses.size(1);
  at::Tensor out = poses.to(at::kFloat).contiguous();
  // Rows to track order. DeepLabCut takes row i from row _idx_to_id[i]; the conditions were in
  // kept-row order, so the inverse (row _idx_to_id[i] from row i) keeps tracks in place.
  if (!row_of_.empty()) {
    const int64_t rows = static_cast<int64_t>(row_of_.size()), have = out.size(0);
    at::Tensor ordered = at::full({rows, k, out.size(2)}, -1.0f, at::kFloat);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t from = options_.stable_rows ? i : row_of_[i];
      const int64_t to = options_.stable_rows ? row_of_[i] : i;
      if (from < have) ordered[to].copy_(out[from]);
    }
    out = ordered;
  }
  // What is passed on: keypoints above threshold_ctd, inside the frame.
  const int64_t rows = out.size(0);
  at::Tensor next = out.narrow(2, 0, 3).contiguous().clone();
  float* p = next.data_ptr<float>();
  for (int64_t j = 0; j < rows * k; ++j) {
    float* kp = p + 3 * j;
    if (kp[2] <= options_.threshold_ctd || kp[0] < 0 || kp[1] < 0 || kp[0] >= frame_w || kp[1] >= frame_h) Mask(kp);
  }
  // NMS, older tracks first (then by mean score): a track two CTD poses converged on keeps
  // its older row.
  std::vector<int64_t> order;
  const bool aged = !ages_.empty() && static_cast<int64_t>(ages_.size()) == rows;
  if (aged) {
    std::vector<double> ordering = ages_;
    for (int64_t i = 0; i < rows; ++i) {
      const float* pose = p + i * k * 3;
      if (VisibleKeypoints(pose, k) > 1) ordering[i] += NanMeanScore(pose, k);
    }
    for (int64_t i : DescendingOrder(ordering))
      if (ordering[i] > 0) order.push_back(i);
  }
  const std::vector<bool> keep =
      NmsOks(next, options_.threshold_nms, kOksSigma, 1.0, options_.threshold_ctd, aged ? &order : nullptr);
  std::vector<int64_t> kept, dropped;
  for (int64_t i = 0; i < rows; ++i) (keep[i] ? kept : dropped).push_back(i);
  if (kept.empty()) {
    tracks_ = at::Tensor();
    row_of_.clear();
    ages_.clear();
    return out;
  }
  tracks_ = next.index_select(0, at::tensor(kept, at::kLong)).contiguous();
  row_of_ = kept;
  row_of_.insert(row_of_.end(), dropped.begin(), dropped.end());
  if (!aged) ages_.assign(static_cast<size_t>(rows), 0.0);
  for (int64_t i = 0; i < rows; ++i) ages_[i] = keep[i] ? ages_[i] + 1 : 0;
  missing_ = kept.size() != row_of_.size();
  return out;
}

}  // namespace posebatch
