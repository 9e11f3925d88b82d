#include "posebatch/video_outputs.h"

#include <filesystem>

#include "posebatch/analyze.h"
#include "posebatch/model.h"

namespace posebatch {

VideoOutputSelection VideoOutputsFor(const AnalyzeOptions& options, const ModelSpec& spec) {
  VideoOutputSelection which;
  which.csv = options.save_csv;
  which.multi_animal = IsMultiAnimal(spec);
  which.ctd_tracking = options.ctd_tracking;
  which.labeled_video = options.labeled_video.enabled;
  return which;
}

std::vector<VideoOutput> VideoOutputList(const VideoOutputSelection& which) {
  using K = VideoOutputKind;
  std::vector<VideoOutput> list = {{K::kH5, ".h5"}};
  if (which.csv) list.push_back({K::kCsv, ".csv"});
  if (which.ctd_tracking) {
    list.push_back({K::kCtdH5, "_ctd.h5"});
    if (which.csv) list.push_back({K::kCtdCsv, "_ctd.csv"});
  }
  if (which.multi_animal) {
    list.push_back({K::kFullPickle, "_full.pickle"});
    list.push_back({K::kAssembliesPickle, "_assemblies.pickle"});
  }
  if (which.labeled_video) list.push_back({K::kLabeledVideo, "_labeled.mp4"});
  list.push_back({K::kMetaPickle, "_meta.pickle"});
  return list;
}

std::vector<std::string> VideoOutputSuffixes(const VideoOutputSelection& which) {
  std::vector<std::string> suffixes;
  for (const VideoOutput& o : VideoOutputList(which)) suffixes.push_back(o.suffix);
  return suffixes;
}

bool VideoOutputsComplete(const std::string& base, const std::vector<std::string>& suffixes) {
  std::error_code ec;
  for (const std::string& s : suffixes)
    if (!std::filesystem::exists(base + s, ec)) return false;
  return true;
}

}  // namespace posebatch
