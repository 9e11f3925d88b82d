// Multi-animal tracking as DeepLabCut 3.0.1 does it after inference: the per-frame assemblies of
// a video (<stem><scorer>_assemblies.pickle, written by DeepLabCut or by posebatch) become
// tracklets, by DeepLabCut's SORT-style trackers (ellipse, box or skeleton) or by identity alone,
// written as DeepLabCut's tracklet pickle (<stem><scorer>_el.pickle, _bx, _sk), the file
// DeepLabCut's stitch_tracklets reads (convert_detections2tracklets); then the tracklets
// stitched into tracks by a min-cost flow, written as the tracked <stem><scorer>_el.h5 (+ .csv)
// users read (stitch_tracklets).
//
// Errors: Status, never throws (status.h); a missing or malformed input names the file.
// Thread-safety: free functions of their arguments.
// Code: src/track/tracklets.cc (building, files), src/track/sort_trackers.cc (the trackers),
//   src/io/tracklet_pickle.cc (the pickle, both ways), src/track/stitcher.cc (stitching),
//   src/track/stitch_tracklets.cc (its files).
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
// The tracker convert_detections2tracklets runs: `method` when given, else the project's
// default_track_method (<project_path>/config.yaml), else ellipse; box whatever was asked for
// projects of one multi-animal bodypart. Throws InvalidArgument naming `origin` for an unknown name.
TrackMethod ResolveTrackMethod(const std::string& method, const std::string& project_path, size_t bodyparts,
                               const std::string& origin);

// A tracklet pickle read back (DeepLabCut's or posebatch's), as stitch_tracklets loads it: each
// entry's frames (the keys' frame numbers, sorted stably) and its rows as float64.
struct TrackletRows {
  std::vector<int64_t> frames;
  std::vector<double> values;  // frames x keypoints x columns
  int64_t keypoints = 0;
  int64_t columns = 0;  // 3 (x, y, likelihood) or 4 (with identity)
  size_t size() const { return frames.size(); }
  const double* row(size_t i) const { return values.data() + i * keypoints * columns; }
};
struct TrackletFile {
  std::string scorer;                   // the header's scorer ("" without a header)
  std::vector<std::string> bodyparts;   // the header's joints in first-seen order: multi, then unique
  std::vector<TrackletRows> tracklets;  // in the pickle's key order; empty entries skipped
  bool has_single = false;              // unique bodyparts: their rows per frame
  TrackletRows single;
};
Status ReadTrackletPickle(const std::string& path, TrackletFile* out);

// stitch_tracklets' arguments (DeepLabCut's defaults).
struct StitchOptions {
  int n_tracks = 0;                       // tracks to build; 0 = one per animal name
  std::vector<std::string> animal_names;  // track names; empty = the project's individuals
  int min_length = 10;                    // shorter tracklets are residuals, fitted in afterwards
  bool split_tracklets = true;            // split tracklets at missing frames
  bool prestitch_residuals = true;        // chain nearby residuals first
  int max_gap = 0;                        // largest gap a link bridges; 0 = 1.5 x the tracklets' own
  bool save_as_csv = false;               // also write the .csv
  std::string dest_dir;                   // empty = beside the tracklet pickle
};

// The stitched tracks in column order (stable by identity), each with its frames (sorted;
// a frame may repeat, the later row wins as DeepLabCut writes it).
struct StitchedTracks {
  std::vector<TrackletRows> tracks;
  int64_t n_tracks = 0;  // columns reserved (missing tracks are NaN)
};
// The stitching itself (TrackletStitcher: purify, split, prestitch, graph, min-cost flow, the
// fallback when the flow is infeasible, residuals). Notes get DeepLabCut's warnings.
Status StitchTracklets(const TrackletFile& file, const StitchOptions& options, StitchedTracks* out,
                       std::vector<std::string>* notes);

// stitch_tracklets for one tracklet pickle (<stem><scorer>_el.pickle): animal names default to
// the individuals of the _meta.pickle beside it. Writes <dest>/<stem><scorer>_el.h5 (key
// "tracks", + .csv), under temporary names until complete; `*written` is the .h5's path.
Status StitchTrackletFile(const std::string& tracklet_pickle, const StitchOptions& options, std::string* written,
                          std::vector<std::string>* notes);

// Both steps, as analyze_videos(auto_track=True) runs them after inference: the tracklet
// pickle (kept if it exists, as DeepLabCut), then the tracked .h5 beside it.
struct TrackOptions {
  ConvertOptions tracklets;
  StitchOptions stitch;  // its dest_dir is the tracklets' own
};
Status TrackPredictions(const std::string& predictions, const TrackOptions& options, std::string* written,
                        std::vector<std::string>* notes);

}  // namespace posebatch
