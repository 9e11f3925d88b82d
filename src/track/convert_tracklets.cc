// convert_detections2tracklets for one video's prediction files (tracking.h): which files, which
// settings, which output name.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "posebatch/tracking.h"
#include "track/prediction_meta.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

TrackMethod ParseMethod(const std::string& name, const std::string& origin) {
  if (name == "ellipse" || name == "transformer")
    return TrackMethod::kEllipse;  // DeepLabCut: transformer tracks as ellipse
  if (name == "box") return TrackMethod::kBox;
  if (name == "skeleton") return TrackMethod::kSkeleton;
  throw Error(Status::InvalidArgument(origin + ": track method '" + name + "' is not ellipse, box or skeleton"));
}

// The project's default_track_method (its config.yaml), "" when unknown.
std::string ProjectTrackMethod(const std::string& project_path) {
  if (project_path.empty()) return "";
  const fs::path config = fs::path(project_path) / "config.yaml";
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return "";
  try {
    const YAML::Node n = YAML::LoadFile(config.string());
    return n["default_track_method"] ? n["default_track_method"].as<std::string>() : "";
  } catch (const YAML::Exception&) {
    return "";
  }
}

}  // namespace

TrackMethod ResolveTrackMethod(const std::string& method, const std::string& project_path, size_t bodyparts,
                               const std::string& origin) {
  const std::string name = !method.empty() ? method : ProjectTrackMethod(project_path);
  const TrackMethod m = ParseMethod(name.empty() ? "ellipse" : name, origin);
  return bodyparts == 1 ? TrackMethod::kBox : m;  // DeepLabCut tracks one-bodypart projects with boxes
}

Status ConvertToTracklets(const std::string& predictions, const ConvertOptions& options, std::string* written,
                          std::vector<std::string>* notes) {
  try {
    const std::string prefix = PredictionPrefix(predictions);
    const PredictionMeta meta = ReadPredictionMeta(prefix + "_meta.pickle");
    TrackletOptions o;
    o.topktoretain = std::max<int>(1, static_cast<int>(meta.individuals.size()));
    std::string config = options.inference_config;
    if (config.empty() && !meta.pose_config_path.empty()) {  // <model folder>/test/inference_cfg.yaml
      const fs::path candidate =
          fs::path(meta.pose_config_path).parent_path().parent_path() / "test" / "inference_cfg.yaml";
      std::error_code ec;
      if (fs::is_regular_file(candidate, ec)) config = candidate.string();
    }
    if (!config.empty()) {
      Status st = ReadInferenceConfig(config, &o);
      if (!st.ok()) return st;
    } else if (notes != nullptr) {
      notes->push_back(predictions +
                       ": no inference_cfg.yaml found; DeepLabCut's defaults (pcutoff 0.1, topktoretain " +
                       std::to_string(o.topktoretain) + ")");
    }
    o.method = ResolveTrackMethod(options.method, meta.project_path, meta.bodyparts.size(), predictions);
    o.identity_only = options.identity_only;

    const std::string stem = fs::path(prefix).filename().string();
    const fs::path dir = options.dest_dir.empty() ? fs::path(prefix).parent_path() : fs::path(options.dest_dir);
    const std::string out = (dir / (stem + TrackMethodSuffix(o.method) + ".pickle")).string();
    *written = out;
    std::error_code ec;
    if (fs::exists(out, ec) && !options.overwrite) {
      if (notes != nullptr) notes->push_back(out + ": exists, kept (as DeepLabCut; --overwrite redoes it)");
      return Status::OK();
    }
    Assemblies assemblies;
    Status st = ReadAssemblies(prefix + "_assemblies.pickle", &assemblies);
    if (!st.ok()) return st;
    if (static_cast<size_t>(assemblies.bodyparts) != meta.bodyparts.size() && assemblies.bodyparts != 0) {
      return Status::InvalidArgument(prefix + "_assemblies.pickle: " + std::to_string(assemblies.bodyparts) +
                                     " bodyparts per assembly, the _meta.pickle names " +
                                     std::to_string(meta.bodyparts.size()));
    }
    assemblies.bodyparts = static_cast<int64_t>(meta.bodyparts.size());
    Tracklets tracklets;
    st = BuildTracklets(assemblies, o, meta.nframes, &tracklets);
    if (!st.ok()) return Status(st.code(), predictions + ": " + st.message());
    TrackletHeader header;
    header.scorer = meta.scorer;
    header.joints = meta.bodyparts;
    header.joints.insert(header.joints.end(), meta.unique_bodyparts.begin(), meta.unique_bodyparts.end());
    header.num_frames = meta.nframes;
    fs::create_directories(dir, ec);
    return WriteTrackletPickle(out, header, tracklets, assemblies);
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace posebatch
