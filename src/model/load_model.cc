// Finds a model's config and weights from what the user named, and loads them:
//  * a DeepLabCut export (.pt holding {config, pose[, detector]}),
//  * a training snapshot (snapshot-*.pt holding {model: ...}) with pytorch_config.yaml,
//  * a training folder (pytorch_config.yaml + snapshot-*.pt: best, else last),
//  * a TorchScript file, or a folder with one, with its pytorch_config.yaml.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <regex>

#include "io/torch_pickle.h"
#include "io/zip_archive.h"
#include "model/config_internal.h"
#include "model/native/detectors.h"
#include "model/native/native_network.h"
#include "model/torchscript_network.h"
#include "posebatch/conditional_network.h"
#include "posebatch/detector.h"
#include "posebatch/model.h"
#include "posebatch/status.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool LooksLikeTorchScript(const std::string& name) {
  return EndsWith(name, ".torchscript.pt") || EndsWith(name, ".torchscript") || EndsWith(name, ".ts") ||
         EndsWith(name, ".jit.pt");
}

std::string FindConfigIn(const fs::path& dir) {
  for (const char* name : {"pytorch_config.yaml", "config.yaml"}) {
    if (fs::exists(dir / name)) return (dir / name).string();
  }
  throw Error(Status::NotFound(dir.string() + ": no pytorch_config.yaml here (name one with --config)"));
}

// A TorchScript archive has code/ and constants.pkl; a torch.save archive has neither.
bool IsTorchScriptArchive(const ZipArchive& z) {
  for (const auto& e : z.entries()) {
    if (EndsWith(e.name, "/constants.pkl") || e.name.find("/code/") != std::string::npos) return true;
  }
  return false;
}

native::StateDict ToStateDict(const PyObject* sd, const std::string& origin, const std::string& what) {
  if (sd == nullptr || !sd->is(PyObject::Type::kDict)) {
    throw Error(Status::ModelError(origin + ": '" + what + "' is not a state dict"));
  }
  native::StateDict out;
  for (const auto& [k, v] : sd->dict) {
    if (!k->is(PyObject::Type::kStr) || !v->is(PyObject::Type::kTensor)) {
      throw Error(Status::ModelError(origin + ": state dict '" + what + "' holds a non-tensor entry"));
    }
    out[k->s] = v->tensor;
  }
  return out;
}

// A training folder's snapshot, as DeepLabCut lists them (pose_estimation_pytorch/data/snapshots.py).
struct SnapshotFile {
  bool best = false;
  long epochs = 0;
  std::string path;
};

// `prefix`(-best)-N.pt (DeepLabCut's snapshot names: data/snapshots.py); none for other names.
// "snapshot" never matches "snapshot-detector-*.pt".
std::optional<SnapshotFile> ParseSnapshotName(const fs::path& path, const std::string& prefix) {
  std::smatch m;
  const std::string name = path.filename().string();
  if (!std::regex_match(name, m, std::regex(prefix + R"((-best)?-(\d+)\.pt)"))) return std::nullopt;
  return SnapshotFile{m[1].matched, std::stol(m[2].str()), path.string()};
}

// The `prefix` snapshots in `dir`, in DeepLabCut's order: by epochs, the best ones moved last.
std::vector<SnapshotFile> ListSnapshots(const fs::path& dir, const std::string& prefix) {
  std::vector<SnapshotFile> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    if (auto s = ParseSnapshotName(e.path(), prefix)) found.push_back(*s);
  }
  std::sort(found.begin(), found.end(), [](const SnapshotFile& a, const SnapshotFile& b) {
    return std::make_pair(a.best, a.epochs) < std::make_pair(b.best, b.epochs);
  });
  return found;
}

// The snapshot `index` picks, as DeepLabCut's get_model_snapshots: a whole number into the list
// (negative from the end: -1 is the best, else the last), or "best" (the last best). "all" is
// refused: a run uses one snapshot. `origin` names where the index came from. Empty when the
// folder has none.
std::string PickSnapshot(const fs::path& dir, const std::string& prefix, const std::string& index,
                         const std::string& origin) {
  const std::vector<SnapshotFile> list = ListSnapshots(dir, prefix);
  if (list.empty()) return "";
  if (index == "best") {
    if (!list.back().best) {
      throw Error(Status::InvalidArgument(origin + ": index 'best' but " + dir.string() + " holds no " + prefix +
                                          "-best-*.pt"));
    }
    return list.back().path;
  }
  if (index == "all") {
    throw Error(Status::InvalidArgument(origin + ": index 'all' names every snapshot; posebatch analyses with one "
                                                 "(-1: the best, else the last; or name the file)"));
  }
  long i = 0;
  try {
    size_t used = 0;
    i = std::stol(index, &used);
    if (used != index.size()) throw std::invalid_argument(index);
  } catch (const std::exception&) {
    throw Error(Status::InvalidArgument(origin + ": snapshot index '" + index + "' is not a whole number or 'best'"));
  }
  const long n = static_cast<long>(list.size());
  if (i < -n || i >= n) {
    std::string names;
    for (const auto& f : list) names += (names.empty() ? "" : ", ") + fs::path(f.path).filename().string();
    throw Error(Status::InvalidArgument(origin + ": snapshot index " + index + " is out of range for the " +
                                        std::to_string(n) + " " + prefix + " file(s) of " + dir.string() + " (" +
                                        names + ")"));
  }
  return list[static_cast<size_t>(i < 0 ? i + n : i)].path;
}

// The snapshot indices of the DeepLabCut project a training folder belongs to
// (<project>/dlc-models-pytorch/iteration-N/<shuffle folder>/train): its config.yaml's
// snapshotindex and detector_snapshotindex, -1 (DeepLabCut's default) where absent or when the
// folder is not inside a project.
struct ProjectIndices {
  std::string pose = "-1", detector = "-1";
  std::string pose_origin = "snapshot index", detector_origin = "detector snapshot index";
};

ProjectIndices ReadProjectIndices(const fs::path& train) {
  ProjectIndices out;
  const fs::path config =
      fs::absolute(train).lexically_normal().parent_path().parent_path().parent_path().parent_path() / "config.yaml";
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return out;
  YAML::Node node;
  try {
    node = YAML::LoadFile(config.string());
  } catch (const YAML::Exception&) {
    return out;  // not a project's config: the folder's own rule applies
  }
  if (!node.IsMap() || !node["Task"] || !node["date"]) return out;
  auto read = [&](const char* key, std::string* index, std::string* origin) {
    const YAML::Node v = node[key];
    if (!v || v.IsNull()) return;
    if (!v.IsScalar()) throw Error(Status::InvalidArgument(config.string() + ": " + key + " is not an index"));
    *index = v.Scalar();
    *origin = config.string() + " (" + key + ": " + *index + ")";
  };
  read("snapshotindex", &out.pose, &out.pose_origin);
  read("detector_snapshotindex", &out.detector, &out.detector_origin);
  return out;
}

// The model files torch.load(weights_only=True) reads, numpy scalars and arrays included: older
// DeepLabCut releases saved metrics as numpy floats in a snapshot's metadata (DeepLabCut 3.0.1
// allows those globals). Still nothing that runs code.
PyRef LoadModelPickle(const std::shared_ptr<ZipArchive>& archive) {
  PickleLimits limits;
  limits.numpy = true;
  return LoadTorchPickle(archive, limits);
}

// A detector from a training folder's snapshot-detector-*.pt ({metadata, model}) or an export's
// "detector", built from the pose model's config (its detector: section).
std::unique_ptr<Detector> LoadDetectorFile(const std::string& path, const YAML::Node& config,
                                           const std::string& device) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(Status::NotFound(path + ": no such detector snapshot"));
  PyRef root = LoadModelPickle(ZipArchive::Open(path));
  const PyObject* sd = root->is(PyObject::Type::kDict) ? root->Get("model") : nullptr;
  if (sd == nullptr && root->is(PyObject::Type::kDict)) sd = root->Get("detector");
  if (sd == nullptr) {
    throw Error(Status::ModelError(path + ": not a DeepLabCut detector snapshot (no 'model' state dict)"));
  }
  return native::BuildNativeDetector(config, ToStateDict(sd, path, "model"), path, device);
}

// A top-down snapshot's detector: --detector-snapshot, else DeepLabCut's choice in the
// snapshot's folder. Sets model->detector_search when there is none.
void FindSnapshotDetector(const std::string& weights, const YAML::Node& config, const ModelLoadOptions& options,
                          Model* model) {
  const fs::path dir = fs::path(weights).parent_path().empty() ? fs::path(".") : fs::path(weights).parent_path();
  std::string path = options.detector_snapshot;
  if (path.empty()) {
    const ProjectIndices indices = ReadProjectIndices(dir);
    path = PickSnapshot(dir, "snapshot-detector", indices.detector, indices.detector_origin);
  }
  if (path.empty()) {
    model->detector_search = "no snapshot-detector-*.pt in " + dir.string();
    return;
  }
  model->detector = LoadDetectorFile(path, config, options.device);
  model->detector_path = path;
}

Model LoadTorchScript(const std::string& weights, const std::string& config, const ModelLoadOptions& options,
                      const std::string& user_path) {
  Model model;
  model.path = user_path;
  model.spec = LoadModelConfig(config);
  if (options.precision != "float32") {
    throw Error(Status::InvalidArgument(weights + ": --precision " + options.precision +
                                        " applies to native DeepLabCut models, not TorchScript"));
  }
  if (options.half) {
    throw Error(Status::InvalidArgument(weights + ": --half applies to native DeepLabCut models, not TorchScript"));
  }
  model.network = LoadTorchScriptNetwork(weights, options.device, model.spec.pose_head.name);
  model.weights_path = weights;
  return model;
}

Model LoadNative(const std::string& weights, const std::string& config_path, const ModelLoadOptions& options,
                 const std::string& user_path) {
  auto archive = ZipArchive::Open(weights);
  if (IsTorchScriptArchive(*archive)) {
    std::string config =
        config_path.empty()
            ? FindConfigIn(fs::path(weights).parent_path().empty() ? fs::path(".") : fs::path(weights).parent_path())
            : config_path;
    return LoadTorchScript(weights, config, options, user_path);
  }
  PyRef root = LoadModelPickle(archive);
  if (!root->is(PyObject::Type::kDict)) {
    throw Error(Status::ModelError(weights + ": holds a " + root->TypeName() + ", not a DeepLabCut model dict"));
  }
  Model model;
  model.path = user_path;
  model.weights_path = weights;
  YAML::Node config;
  native::StateDict sd;
  if (const PyObject* pose = root->Get("pose")) {  // deeplabcut.export_model
    const PyObject* cfg = root->Get("config");
    if (config_path.empty()) {
      if (cfg == nullptr) throw Error(Status::ModelError(weights + ": export has no 'config'"));
      config = PyToYaml(*cfg);
      model.spec = ParseModelConfigNode(config, weights + " (embedded config)");
      model.spec.config_text = YAML::Dump(config);
    } else {
      model.spec = LoadModelConfig(config_path);
      config = YAML::Load(model.spec.config_text);
    }
    sd = ToStateDict(pose, weights, "pose");
  } else if (const PyObject* m = root->Get("model")) {  // training snapshot
    std::string cfg_path =
        config_path.empty()
            ? FindConfigIn(fs::path(weights).parent_path().empty() ? fs::path(".") : fs::path(weights).parent_path())
            : config_path;
    model.spec = LoadModelConfig(cfg_path);
    config = YAML::Load(model.spec.config_text);
    sd = ToStateDict(m, weights, "model");
  } else {
    throw Error(Status::ModelError(weights + ": neither a DeepLabCut export ('pose') nor a snapshot ('model')"));
  }
  // The layout's default: see ModelLoadOptions::channels_last.
  const bool channels_last = options.channels_last.value_or(model.spec.method != Method::kTopDown);
  model.network = native::BuildNativeNetwork(config, std::move(sd), weights, options.device, options.half,
                                             channels_last, options.precision);
  if (model.spec.method != Method::kTopDown) return model;
  if (!options.detector_snapshot.empty()) {
    model.detector = LoadDetectorFile(options.detector_snapshot, config, options.device);
    model.detector_path = options.detector_snapshot;
  } else if (const PyObject* det = root->Get("detector")) {  // an export carries its detector
    model.detector = native::BuildNativeDetector(config, ToStateDict(det, weights, "detector"), weights + " (detector)",
                                                 options.device);
  } else if (root->Get("model") != nullptr) {  // a training snapshot: its detector is beside it
    FindSnapshotDetector(weights, config, options, &model);
  }
  return model;
}

// A file the user named beside a training folder (--snapshot, --detector-snapshot): as given
// when it exists so, else relative to the folder.
std::string BesideFolder(const std::string& folder, const std::string& file) {
  std::error_code ec;
  if (file.empty() || fs::path(file).is_absolute() || fs::exists(file, ec)) return file;
  return (fs::path(folder) / file).string();
}

}  // namespace

Model LoadModel(const std::string& path, const ModelLoadOptions& given) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(Status::NotFound(path + ": no such model file or folder"));
  Model model;
  ModelLoadOptions options = given;
  if (fs::is_directory(path, ec)) {
    options.snapshot = BesideFolder(path, options.snapshot);
    options.detector_snapshot = BesideFolder(path, options.detector_snapshot);
    std::string config = options.config_path.empty() ? FindConfigIn(path) : options.config_path;
    if (!options.snapshot.empty()) {
      if (!fs::is_regular_file(options.snapshot, ec)) {
        throw Error(Status::NotFound(options.snapshot + ": no such snapshot (--snapshot; " + path + ")"));
      }
      model = LoadNative(options.snapshot, config, options, path);
    } else {
      ModelSpec spec = LoadModelConfig(config);
      std::vector<std::string> scripts;
      if (!spec.torchscript_file.empty()) {
        fs::path p = fs::path(spec.torchscript_file).is_absolute() ? fs::path(spec.torchscript_file)
                                                                   : fs::path(path) / spec.torchscript_file;
        if (!fs::exists(p)) {
          throw Error(Status::NotFound(p.string() + ": TorchScript file named by " + config + " does not exist"));
        }
        scripts.push_back(p.string());
      } else {
        for (const auto& e : fs::directory_iterator(path))
          if (e.is_regular_file() && LooksLikeTorchScript(e.path().filename().string()))
            scripts.push_back(e.path().string());
      }
      if (scripts.size() == 1) {
        model = LoadTorchScript(scripts[0], config, options, path);
      } else if (scripts.size() > 1) {
        throw Error(
            Status::InvalidArgument(path + ": several TorchScript files; name one, or set posebatch.torchscript"));
      } else {
        const ProjectIndices indices = ReadProjectIndices(path);
        std::string snap = PickSnapshot(path, "snapshot", indices.pose, indices.pose_origin);
        if (snap.empty()) {
          throw Error(Status::NotFound(path + ": no snapshot-*.pt and no TorchScript file (*.torchscript.pt) here"));
        }
        model = LoadNative(snap, config, options, path);
      }
    }
  } else if (LooksLikeTorchScript(path)) {
    std::string config =
        options.config_path.empty()
            ? FindConfigIn(fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path())
            : options.config_path;
    model = LoadTorchScript(path, config, options, path);
  } else {
    model = LoadNative(path, options.config_path, options, path);
  }
  if (!options.detector_snapshot.empty() && model.detector_path.empty()) {
    throw Error(Status::InvalidArgument(options.detector_snapshot +
                                        ": --detector-snapshot is for a native top-down DeepLabCut model (snapshot, "
                                        "training folder or export); " +
                                        path + " is " + MethodName(model.spec.method)));
  }
  // (The config parser has refused unknown methods and predictors.)
  const Method method = model.spec.method;
  const PredictorType predictor = model.spec.predictor;
  if (method == Method::kConditionalTopDown) {
    if (predictor != PredictorType::kSimCC && predictor != PredictorType::kHeatmap) {
      throw Error(Status::ModelError(model.spec.config_path + ": CTD predictor '" + PredictorName(predictor) +
                                     "' is not supported yet (SimCCPredictor and HeatmapPredictor are)"));
    }
    if (dynamic_cast<const ConditionalNetwork*>(model.network.get()) == nullptr) {
      throw Error(Status::ModelError(model.path + ": a CTD model must be a native DeepLabCut export or snapshot "
                                                  "(a TorchScript CTD network cannot be given conditions)"));
    }
    return model;
  }
  if (method == Method::kTopDown && !model.spec.unique_bodyparts.empty()) {
    throw Error(
        Status::ModelError(model.spec.config_path + ": unique bodyparts with a top-down model are not supported yet"));
  }
  if (method == Method::kTopDown && predictor != PredictorType::kHeatmap) {
    throw Error(Status::ModelError(model.spec.config_path + ": top-down predictor '" + PredictorName(predictor) +
                                   "' is not supported yet (HeatmapPredictor is)"));
  }
  if (predictor == PredictorType::kSimCC) {
    throw Error(Status::ModelError(model.spec.config_path + ": predictor '" + std::string(PredictorName(predictor)) +
                                   "' is not run by the pipeline yet (this build runs HeatmapPredictor, "
                                   "PartAffinityFieldPredictor and DEKRPredictor models)"));
  }
  return model;
}

Model::Model() = default;
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

namespace {

// "best-200" for snapshot-best-200.pt, "10" for snapshot-010.pt (DeepLabCut's snapshot uid);
// empty for other names.
std::string SnapshotUid(const std::string& path, const std::string& prefix) {
  const auto s = ParseSnapshotName(path, prefix);
  if (!s) return "";
  return (s->best ? "best-" : "") + std::to_string(s->epochs);
}

// DeepLabCut's scorer for a snapshot of a training folder <Task><date>-trainset<P>shuffle<N>/train:
// DLC_<Net>_<Task><date>shuffle<N>[_detector_<uid>]_snapshot_<uid> (dlcloader.py); empty when the
// weights are not such a snapshot.
std::string TrainingFolderScorer(const Model& model, const std::string& net) {
  const fs::path train = fs::absolute(model.weights_path).lexically_normal().parent_path();
  const std::string uid = SnapshotUid(model.weights_path, "snapshot");
  std::smatch m;
  const std::string shuffle_folder = train.parent_path().filename().string();
  if (uid.empty() || train.filename() != "train" ||
      !std::regex_match(shuffle_folder, m, std::regex(R"((.+)-trainset\d+shuffle(\d+))"))) {
    return "";
  }
  std::string scorer = "DLC_" + net + "_" + m[1].str() + "shuffle" + m[2].str();
  if (!model.detector_path.empty()) {
    const std::string detector_uid = SnapshotUid(model.detector_path, "snapshot-detector");
    if (!detector_uid.empty()) scorer += "_detector_" + detector_uid;
  }
  return scorer + "_snapshot_" + uid;
}

}  // namespace

std::string DefaultScorer(const Model& model) {
  fs::path p(model.path);
  std::string stem = fs::is_directory(p) ? p.filename().string() : p.stem().string();
  if (stem.empty()) stem = fs::absolute(p).parent_path().filename().string();
  for (const char* ext : {".torchscript", ".jit"}) {
    if (EndsWith(stem, ext)) stem.resize(stem.size() - std::string(ext).size());
  }
  if (stem.rfind("DLC_", 0) == 0) return stem;  // DeepLabCut exports are named by their scorer
  // DeepLabCut capitalises each part of net_type: resnet_50 -> Resnet50.
  std::string net;
  bool upper = true;
  for (char c : model.spec.net_type.empty() ? std::string("model") : model.spec.net_type) {
    if (c == '_') {
      upper = true;
      continue;
    }
    net += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  const std::string deeplabcuts = TrainingFolderScorer(model, net);
  if (!deeplabcuts.empty()) return deeplabcuts;
  return "DLC_" + net + "_" + stem;
}

}  // namespace posebatch
