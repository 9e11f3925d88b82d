// Finds a model's config and weights from what the user named, and loads them:
//  * a DeepLabCut export (.pt holding {config, pose[, detector]}),
//  * a training snapshot (snapshot-*.pt holding {model: ...}) with pytorch_config.yaml,
//  * a training folder (pytorch_config.yaml + snapshot-*.pt: best, else last),
//  * a TorchScript file, or a folder with one, with its pytorch_config.yaml.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
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

// DeepLabCut's choice in a training folder: the best snapshot, else the last one.
std::string ChooseSnapshot(const fs::path& dir) {
  std::regex re(R"(snapshot-(best-)?0*(\d+)\.pt)");
  std::string best, last;
  long best_n = -1, last_n = -1;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !std::regex_match(name, m, re)) continue;
    long n = std::stol(m[2].str());
    if (m[1].matched) {
      if (n > best_n) best_n = n, best = e.path().string();
    } else if (n > last_n) {
      last_n = n, last = e.path().string();
    }
  }
  if (!best.empty()) return best;
  if (!last.empty()) return last;
  return "";
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
  PyRef root = LoadTorchPickle(archive);
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
  if (model.spec.method == Method::kTopDown) {  // an export carries its detector beside the pose model
    if (const PyObject* det = root->Get("detector")) {
      model.detector = native::BuildNativeDetector(config, ToStateDict(det, weights, "detector"),
                                                   weights + " (detector)", options.device);
    }
  }
  return model;
}

}  // namespace

Model LoadModel(const std::string& path, const ModelLoadOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(Status::NotFound(path + ": no such model file or folder"));
  Model model;
  if (fs::is_directory(path, ec)) {
    std::string config = options.config_path.empty() ? FindConfigIn(path) : options.config_path;
    if (!options.snapshot.empty()) {
      fs::path snap =
          fs::path(options.snapshot).is_absolute() ? fs::path(options.snapshot) : fs::path(path) / options.snapshot;
      model = LoadNative(snap.string(), config, options, path);
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
        std::string snap = ChooseSnapshot(path);
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
  return "DLC_" + net + "_" + stem;
}

}  // namespace posebatch
