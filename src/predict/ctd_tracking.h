// Conditional top-down (CTD) tracking as DeepLabCut 3.0.1's CTDInferenceRunner does it with a
// CTDTrackingConfig: the poses the CTD model finds in a frame, filtered (scores above
// threshold_ctd, inside the frame, OKS NMS keeping older tracks first), are the next frame's
// conditions. The conditions source (a bottom-up model or a predictions file) starts the
// tracks, and is run again by DeepLabCut's rules (every bu_min_frequency frames; when tracks
// were lost, at most every bu_max_frequency frames), its poses then joining the tracks when
// they overlap none of them (OKS below threshold_bu_add).
//
// Per frame, in frame order: BeginFrame() -> [run the source] -> Conditions() -> the CTD model
// on those conditions -> EndFrame(). Not thread-safe: one run's tracker thread owns it.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "posebatch/options.h"

namespace posebatch {

class CtdTracker {
 public:
  explicit CtdTracker(const CtdTrackingOptions& options) : options_(options) {}

  // Starts the next frame. True when the conditions source must run on it.
  bool BeginFrame();

  // The frame's conditions, float32 (n, K, 3) in frame pixels (NaN where a keypoint is not
  // passed on): the tracked poses, merged with `source` when BeginFrame asked for it (the
  // source's poses, as the bottom-up model or file gives them; undefined otherwise).
  at::Tensor Conditions(const at::Tensor& source);

  // Whether this frame's CTD scores are rescored (BUCTD): only when its conditions came from
  // the source alone (no tracks yet), as DeepLabCut drops the conditions from the
  // postprocessor's context once it tracks.
  bool rescore() const { return rescore_; }

  // The frame's CTD poses (rows, K, 3) float32 in frame pixels, -1 rows absent, in the order of
  // the conditions: returns them in track order (DeepLabCut's row permutation) and updates the
  // tracks for the next frame. frame_w, frame_h: keypoints outside are not passed on.
  at::Tensor EndFrame(const at::Tensor& poses, int frame_w, int frame_h);

  // Frames on which BeginFrame asked for the source, since construction.
  int64_t source_runs() const { return source_runs_; }

 private:
  at::Tensor MergeSourcePoses(const at::Tensor& source) const;

  CtdTrackingOptions options_;
  int64_t source_age_ = -1;  // frames since the source last ran (DeepLabCut's _bu_age)
  bool missing_ = false;     // fewer tracks kept than rows (DeepLabCut's _missing_idvs)
  bool rescore_ = true;
  at::Tensor tracks_;            // kept poses (n, K, 3), NaN-masked; undefined = no tracks
  std::vector<int64_t> row_of_;  // DeepLabCut's _idx_to_id: kept rows, then the others
  std::vector<double> ages_;     // per row: frames the track has been kept in a row
  int64_t source_runs_ = 0;
};

// Reads "key=value,key=value" with DeepLabCut's CTDTrackingConfig keys (bu_on_lost_idv,
// bu_min_frequency (a number of frames, or none), bu_max_frequency, threshold_bu_add,
// threshold_ctd, threshold_nms) and stable_rows, over `options`. Throws Error
// (kInvalidArgument) naming the key or value it cannot read.
void ParseCtdTrackingOptions(const std::string& text, CtdTrackingOptions* options);

// A "key=value,..." line of every setting (what the resume journal fingerprints).
std::string DescribeCtdTrackingOptions(const CtdTrackingOptions& options);

// DeepLabCut's OKS as its tracking uses it (calc_object_keypoint_similarity on (K, 3) poses,
// the score column included): NaN when `truth` has fewer than 2 visible keypoints or a zero
// scale. Exposed for tests.
double TrackingOks(const float* pred, const float* truth, int64_t k, double sigma, double margin);

// DeepLabCut's nms_oks on (n, K, 3) poses: which to keep. `order`: the order to visit them in
// (empty: by mean visible score, as DeepLabCut). Exposed for tests.
std::vector<bool> NmsOks(const at::Tensor& poses, double oks_threshold, double sigma, double margin,
                         double score_threshold, const std::vector<int64_t>* order);

}  // namespace posebatch
