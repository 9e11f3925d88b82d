// convert_detections2tracklets for one video's prediction files (tracking.h): which files, which
// settings, which output name.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "io/file_bytes.h"
#include "io/torch_pickle.h"
#include "posebatch/tracking.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// <stem><scorer> of a prediction file's path.
std::string PrefixOf(const std::string& path) {
  for (const char* suffix : {"_full.pickle", "_assemblies.pickle", "_meta.pickle"}) {
    if (EndsWith(path, suffix)) return path.substr(0, path.size() - std::string(suffix).size());
  }
  throw Error(Status::InvalidArgument(path + ": expected a DeepLabCut <video><scorer>_full.pickle, "
                                             "_assemblies.pickle or _meta.pickle"));
}

std::vector<std::string> Strings(const PyObject* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  for (const auto& item : v->items)
    if (item->is(PyObject::Type::kStr)) out.push_back(item->s);
  return out;
}

struct Meta {
  std::string scorer;
  std::vector<std::string> bodyparts, unique_bodyparts, individuals;
  int64_t nframes = 0;
  std::string pose_config_path, project_path;  // from the model config it records, when it does
};

Meta ReadMeta(const std::string& path) {
  const std::string bytes = ReadFileBytes(path, "the _meta.pickle beside the predictions (DeepLabCut writes one)");
  PickleLimits limits;
  limits.numpy = true;
  PyRef root = ParsePickle(bytes, path, limits);
  const PyObject* data = root->Get("data");
  if (data == nullptr) throw Error(Status::InvalidArgument(path + ": not a DeepLabCut _meta.pickle (no 'data')"));
  Meta m;
  if (const PyObject* s = data->Get("Scorer"); s && s->is(PyObject::Type::kStr)) m.scorer = s->s;
  if (const PyObject* n = data->Get("nframes"); n && n->is(PyObject::Type::kInt)) m.nframes = n->i;
  m.bodyparts = Strings(data->Get("bodyparts"));
  m.unique_bodyparts = Strings(data->Get("unique_bodyparts"));
  m.individuals = Strings(data->Get("individuals"));
  if (const PyObject* cfg = data->Get("pytorch-config")) {
    if (const PyObject* md = cfg->Get("metadata")) {
      if (const PyObject* p = md->Get("pose_config_path"); p && p->is(PyObject::Type::kStr)) m.pose_config_path = p->s;
      if (const PyObject* p = md->Get("project_path"); p && p->is(PyObject::Type::kStr)) m.project_path = p->s;
    }
  }
  if (m.scorer.empty() || m.bodyparts.empty() || m.nframes <= 0) {
    throw Error(Status::InvalidArgument(path + ": the _meta.pickle lacks Scorer, bodyparts or nframes"));
  }
  return m;
}

TrackMethod ParseMethod(const std::string& name, const std::string& origin) {
  if (name == "ellipse" || name == "transformer")
    return TrackMethod::kEllipse;  // DeepLabCut: transformer tracks as ellipse
  if (name == "box") return TrackMethod::kBox;
  if (name == "skeleton") return TrackMethod::kSkeleton;
  throw Error(Status::InvalidArgument(origin + ": track method '" + name + "' is not ellipse, box or skeleton"));
}

// The project's default_track_method (config.yaml of metadata.project_path), "" when unknown.
std::string ProjectTrackMethod(const Meta& m) {
  if (m.project_path.empty()) return "";
  const fs::path config = fs::path(m.project_path) / "config.yaml";
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

Status ConvertToTracklets(const std::string& predictions, const ConvertOptions& options, std::string* written,
                          std::vector<std::string>* notes) {
  try {
    const std::string prefix = PrefixOf(predictions);
    const Meta meta = ReadMeta(prefix + "_meta.pickle");
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
    const std::string method = !options.method.empty() ? options.method : ProjectTrackMethod(meta);
    o.method = ParseMethod(method.empty() ? "ellipse" : method, predictions);
    // DeepLabCut tracks projects of one multi-animal bodypart with boxes.
    if (meta.bodyparts.size() == 1 && o.method != TrackMethod::kBox) o.method = TrackMethod::kBox;
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
