// Multi-animal tracking as DeepLabCut 3.0.1 does it after inference: the per-frame assemblies of
// a video (<stem><scorer>_assemblies.pickle, written by DeepLabCut or by posebatch) become
// tracklets, by DeepLabCut's SORT-style trackers (ellipse, box or skeleton) or by identity alone,
// written as DeepLabCut's tracklet pickle (<stem><scorer>_el.pickle, _bx, _sk), the file
// DeepLabCut's stitch_tracklets reads (convert_detections2tracklets). Stitching tracklets into
// the tracked <stem><scorer>_el.h5 is the next step (issue 27) and not here yet.
//
// Errors: Status, never throws (status.h); a missing or malformed input names the file.
// Thread-safety: free functions of their arguments.
// Code: src/track/tracklets.cc (building, files), src/track/sort_trackers.cc (the trackers),
//   src/io/tracklet_pickle.cc (the pickle).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "posebatch/status.h"

namespace posebatch {

enum class TrackMethod { kEllipse, kBox, kSkeleton };

const char* TrackMethodName(TrackMethod m);    // "ellipse", "box", "skeleton"
const char* TrackMethodSuffix(TrackMethod m);  // "_el", "_bx", "_sk"

// The settings DeepLabCut's tracking reads from the model folder's test/inference_cfg.yaml, with
// the defaults it fills in when that file is absent (topktoretain: the number of individuals).
struct TrackletOptions {
  TrackMethod method = TrackMethod::kEllipse;  // the project's default_track_method, else ellipse
  double pcutoff = 0.1;                        // keypoints below it lose x, y (score kept)
  int topktoretain = 1;                        // individuals; 1 = no tracker, the first assembly
  double boundingboxslack = 0;                 // box: pixels added around each animal's keypoints
  double iou_threshold = 0.6;                  // box: IoU; ellipse: similarity, to keep a match
  int max_age = 1;                             // tracked frames a tracker survives unmatched
  int min_hits = 1;                            // matches before a tracker is reported
  bool identity_only = false;                  // assign by the identity head's votes, no tracker
};

// Reads an inference_cfg.yaml's tracking keys into `options` (others are ignored). kNotFound /
// kInvalidArgument name the file.
Status ReadInferenceConfig(const std::string& path, TrackletOptions* options);

// A video's assemblies: per frame, rows x bodyparts x (x, y, score, id) float64; the unique
// bodyparts' (x, y, score) per frame as stored (float32 in DeepLabCut's files).
struct FrameAssemblies {
  int64_t rows = 0;
  std::vector<double> values;  // rows * bodyparts * 4
};
struct Assemblies {
  int64_t bodyparts = 0;                         // multi-animal bodyparts per row
  std::map<int64_t, FrameAssemblies> frames;     // by frame index
  std::map<int64_t, std::vector<float>> single;  // unique bodyparts: (n_unique, 3) per frame
  int64_t unique = 0;                            // unique bodyparts
};
Status ReadAssemblies(const std::string& path, Assemblies* out);

// One tracklet: its id and, per frame it holds, the (bodyparts, 4) assembly row (x, y NaN where
// the score was below pcutoff or negative), or (skeleton, a tracker without its detection) the
// predicted x, y of every keypoint with likelihood 1 (3 x keypoints values).
struct Tracklet {
  int64_t id = 0;
  std::vector<int64_t> frames;
  std::vector<std::vector<double>> rows;
};
struct Tracklets {
  std::vector<Tracklet> tracklets;  // in DeepLabCut's order: first reported first
  bool by_frame_index = false;      // topktoretain 1: keys are frame numbers, not "frameNNN"
};

// build_tracklets: `num_frames` frames, the assemblies' rows through the trackers.
Status BuildTracklets(const Assemblies& assemblies, const TrackletOptions& options, int64_t num_frames, Tracklets* out);

// What the tracklet pickle needs besides the tracklets.
struct TrackletHeader {
  std::string scorer;
  std::vector<std::string> joints;  // multi-animal bodyparts, then unique bodyparts
  int64_t num_frames = 0;           // for the "frame%0Wd" width
};

// Writes DeepLabCut's tracklet pickle ("header": a pandas MultiIndex, "single" when there are
// unique bodyparts, then each tracklet by a numpy.int64 id), under a temporary name until done.
Status WriteTrackletPickle(const std::string& path, const TrackletHeader& header, const Tracklets& tracklets,
                           const Assemblies& assemblies);

// convert_detections2tracklets for one video's predictions: `predictions` names its
// <stem><scorer>_full.pickle, _assemblies.pickle or _meta.pickle (the others are found beside
// it). Settings: `inference_config` if not empty, else the model folder's test/inference_cfg.yaml
// named by the _meta.pickle's config, else DeepLabCut's defaults; `options` fields the caller set
// explicitly win (method_given, identity_only). Writes <dest>/<stem><scorer><suffix>.pickle
// (dest empty: beside the predictions) unless it exists and !overwrite; `*written` is its path.
struct ConvertOptions {
  std::string inference_config;  // an inference_cfg.yaml; empty = the model folder's, else defaults
  std::string method;            // ellipse, box, skeleton; empty = the project's default, else ellipse
  bool identity_only = false;
  std::string dest_dir;    // empty = beside the predictions
  bool overwrite = false;  // redo an existing tracklet pickle (DeepLabCut keeps it)
};
Status ConvertToTracklets(const std::string& predictions, const ConvertOptions& options, std::string* written,
                          std::vector<std::string>* notes);

}  // namespace posebatch
