// The files `analyze` writes for one video, defined once: analyze's writers create them from this
// list, its skip rule ("already analysed") and `posebatch status` check it, and a campaign's
// manifest records it. A video is done when every file of its list exists.
// Plain functions and value types: thread-safe.
// Code: src/analyze/video_outputs.cc.
#pragma once

#include <string>
#include <vector>

namespace posebatch {

struct AnalyzeOptions;
struct ModelSpec;

// Which of the optional outputs a run writes.
struct VideoOutputSelection {
  bool csv = false;            // <base>.csv (and <base>_ctd.csv with ctd_tracking)
  bool multi_animal = false;   // <base>_full.pickle and <base>_assemblies.pickle
  bool ctd_tracking = false;   // <base>_ctd.h5 (DeepLabCut's file for track_method="ctd")
  bool labeled_video = false;  // <base>_labeled.mp4
  // Multi-animal tracking (auto_track): the tracker's suffix ("_el", "_bx", "_sk") of
  // <base>_el.pickle, <base>_el.h5 (and .csv); empty = no tracking.
  std::string tracked;
};

// What a run with `options` writes for a model of `spec`.
VideoOutputSelection VideoOutputsFor(const AnalyzeOptions& options, const ModelSpec& spec);

enum class VideoOutputKind {
  kH5,
  kCsv,
  kCtdH5,
  kCtdCsv,
  kFullPickle,
  kAssembliesPickle,
  kLabeledVideo,
  kMetaPickle,
  kTracklets,  // tracking's, from the files above once they are complete
  kTrackedH5,
  kTrackedCsv,
};

struct VideoOutput {
  VideoOutputKind kind;
  std::string suffix;  // after the output base "<stem><scorer>": ".h5", "_meta.pickle", ...
};

// Every file of a complete run, in the order analyze lists them (InputResult::outputs): .h5
// first, _meta.pickle last of the analysis's files, then tracking's.
std::vector<VideoOutput> VideoOutputList(const VideoOutputSelection& which);
// The same, as suffixes (what a campaign manifest records).
std::vector<std::string> VideoOutputSuffixes(const VideoOutputSelection& which);
// Whether <base><suffix> exists for every suffix (a kill can fall between two renames).
bool VideoOutputsComplete(const std::string& base, const std::vector<std::string>& suffixes);
// Whether a file of the list is tracking's (made from the others after them).
bool IsTrackingOutput(VideoOutputKind kind);

}  // namespace posebatch
