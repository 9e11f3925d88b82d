// Finds a model's config and weights from what the user named, and loads them.
#include <cctype>
#include <filesystem>

#include "model/torchscript_network.h"
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

std::string FindConfig(const fs::path& dir) {
  for (const char* name : {"pytorch_config.yaml", "config.yaml"}) {
    if (fs::exists(dir / name)) return (dir / name).string();
  }
  throw Error(Status::NotFound(dir.string() + ": no pytorch_config.yaml here (name one with --config)"));
}

std::string FindTorchScriptIn(const fs::path& dir, const ModelSpec& spec) {
  if (!spec.torchscript_file.empty()) {
    fs::path p = fs::path(spec.torchscript_file).is_absolute() ? fs::path(spec.torchscript_file)
                                                                 : dir / spec.torchscript_file;
    if (!fs::exists(p)) {
      throw Error(Status::NotFound(p.string() + ": TorchScript file named by " + spec.config_path +
                                   " does not exist"));
    }
    return p.string();
  }
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && LooksLikeTorchScript(e.path().filename().string())) {
      found.push_back(e.path().string());
    }
  }
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    throw Error(Status::NotFound(dir.string() + ": no TorchScript model file (*.torchscript.pt) here"));
  }
  throw Error(Status::InvalidArgument(dir.string() +
                                      ": several TorchScript files; name one, or set posebatch.torchscript"));
}

}  // namespace

Model LoadModel(const std::string& path, const ModelLoadOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(Status::NotFound(path + ": no such model file or folder"));
  Model model;
  model.path = path;
  std::string weights;
  if (fs::is_directory(path, ec)) {
    std::string config = options.config_path.empty() ? FindConfig(path) : options.config_path;
    model.spec = LoadModelConfig(config);
    weights = FindTorchScriptIn(path, model.spec);
  } else {
    std::string config = options.config_path.empty() ? FindConfig(fs::path(path).parent_path().empty()
                                                                      ? fs::path(".")
                                                                      : fs::path(path).parent_path())
                                                     : options.config_path;
    model.spec = LoadModelConfig(config);
    weights = path;
  }
  if (model.spec.method != "bu") {
    throw Error(Status::ModelError(model.spec.config_path + ": method '" + model.spec.method +
                                   "' is not supported yet (this build runs bottom-up models)"));
  }
  model.network = LoadTorchScriptNetwork(weights, options.device, model.spec.pose_head.name);
  return model;
}

std::string DefaultScorer(const Model& model) {
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
  fs::path p(model.path);
  std::string stem = fs::is_directory(p) ? p.filename().string() : p.stem().string();
  if (stem.empty()) stem = fs::absolute(p).parent_path().filename().string();
  for (const char* ext : {".torchscript", ".jit"}) {
    if (EndsWith(stem, ext)) stem.resize(stem.size() - std::string(ext).size());
  }
  return "DLC_" + net + "_" + stem;
}

}  // namespace posebatch
