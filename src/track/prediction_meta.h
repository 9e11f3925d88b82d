// What tracking reads from a video's DeepLabCut prediction files (tracking.md §1): the
// <stem><scorer> prefix they share and the _meta.pickle's names. Stateless; thread-safe.
#ifndef POSEBATCH_SRC_TRACK_PREDICTION_META_H_
#define POSEBATCH_SRC_TRACK_PREDICTION_META_H_

#include <cstdint>
#include <string>
#include <vector>

namespace posebatch {

// The _meta.pickle's "data" as tracking uses it.
struct PredictionMeta {
  std::string scorer;
  std::vector<std::string> bodyparts, unique_bodyparts, individuals;
  int64_t nframes = 0;
  std::string pose_config_path, project_path;  // from the model config it records, when it does
};

// <stem><scorer> of <stem><scorer>_full.pickle, _assemblies.pickle or _meta.pickle; throws
// InvalidArgument naming the path otherwise.
std::string PredictionPrefix(const std::string& path);

// Reads <prefix>_meta.pickle; throws (naming the file) when it is missing, unreadable, or lacks
// Scorer, bodyparts or nframes.
PredictionMeta ReadPredictionMeta(const std::string& path);

}  // namespace posebatch

#endif  // POSEBATCH_SRC_TRACK_PREDICTION_META_H_
