#include "posebatch/video_outputs.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "posebatch/analyze.h"
#include "posebatch/model.h"
#include "posebatch/tracking.h"

namespace posebatch {
namespace {

// The project folder a model config records (metadata.project_path), "" when it does not.
std::string ProjectPathOf(const std::string& config_text) {
  try {
    const YAML::Node path = YAML::Load(config_text)["metadata"]["project_path"];
    return path && path.IsScalar() ? path.as<std::string>() : "";
  } catch (const YAML::Exception&) {
    return "";
  }
}

}  // namespace

VideoOutputSelection VideoOutputsFor(const AnalyzeOptions& options, const ModelSpec& spec) {
  VideoOutputSelection which;
  which.csv = options.save_csv;
  which.multi_animal = IsMultiAnimal(spec);
  which.ctd_tracking = options.ctd_tracking;
  which.labeled_video = options.labeled_video.enabled;
  if (which.multi_animal && options.auto_track && !options.ctd_tracking) {
    which.tracked = TrackMethodSuffix(ResolveTrackMethod(
        options.track.tracklets.method, ProjectPathOf(spec.config_text), spec.bodyparts.size(), "--track-method"));
  }
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
  if (!which.tracked.empty()) {
    list.push_back({K::kTracklets, which.tracked + ".pickle"});
    list.push_back({K::kTrackedH5, which.tracked + ".h5"});
    if (which.csv) list.push_back({K::kTrackedCsv, which.tracked + ".csv"});
  }
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

bool IsTrackingOutput(VideoOutputKind kind) {
  return kind == VideoOutputKind::kTracklets || kind == VideoOutputKind::kTrackedH5 ||
         kind == VideoOutputKind::kTrackedCsv;
}

}  // namespace posebatch
