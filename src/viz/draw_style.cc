#include "viz/draw_style.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "posebatch/status.h"

namespace fs = std::filesystem;

namespace posebatch::viz {
namespace {

ProjectSettings FromProjectYaml(const YAML::Node& root, const std::string& path) {
  ProjectSettings s;
  s.path = path;
  try {
    if (root["pcutoff"] && root["pcutoff"].IsScalar()) s.pcutoff = root["pcutoff"].as<double>();
    if (root["dotsize"] && root["dotsize"].IsScalar()) s.dotsize = root["dotsize"].as<double>();
    if (root["colormap"] && root["colormap"].IsScalar()) s.colormap = root["colormap"].as<std::string>();
    if (root["skeleton_color"] && root["skeleton_color"].IsScalar()) {
      s.skeleton_color = root["skeleton_color"].as<std::string>();
    }
    const YAML::Node sk = root["skeleton"];
    if (sk && sk.IsSequence()) {
      for (const auto& pair : sk) {
        if (pair.IsSequence() && pair.size() == 2) {
          s.skeleton.emplace_back(pair[0].as<std::string>(), pair[1].as<std::string>());
        }
      }
    }
  } catch (const YAML::Exception& e) {
    throw Error(Status::InvalidArgument(path + ": " + e.what()));
  }
  return s;
}

ProjectSettings FollowProjectPath(const YAML::Node& root) {
  const YAML::Node meta = root["metadata"];
  if (!meta || !meta["project_path"] || !meta["project_path"].IsScalar()) return {};
  const fs::path project = fs::path(meta["project_path"].as<std::string>()) / "config.yaml";
  std::error_code ec;
  if (!fs::is_regular_file(project, ec)) return {};
  try {
    return FromProjectYaml(YAML::LoadFile(project.string()), project.string());
  } catch (const YAML::Exception&) {
    return {};  // the project beside the model is a convenience, not a requirement
  }
}

}  // namespace

ProjectSettings ReadProjectSettings(const std::string& path) {
  if (path.empty()) return {};
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(Status::NotFound(path + ": no such file"));
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(Status::InvalidArgument(path + ": not a YAML file (" + std::string(e.what()) + ")"));
  }
  if (!root.IsMap()) throw Error(Status::InvalidArgument(path + ": not a DeepLabCut config"));
  if (root["metadata"] && !root["bodyparts"]) return FollowProjectPath(root);  // a pytorch_config.yaml
  return FromProjectYaml(root, path);
}

ProjectSettings ProjectSettingsFromModelConfig(const std::string& config_yaml_text) {
  try {
    const YAML::Node root = YAML::Load(config_yaml_text);
    if (!root.IsMap()) return {};
    return FollowProjectPath(root);
  } catch (const YAML::Exception&) {
    return {};
  }
}

ProjectSettings ResolveProjectSettings(const LabeledVideoOptions& options, const std::string& model_config_text) {
  return options.project_config.empty() ? ProjectSettingsFromModelConfig(model_config_text)
                                        : ReadProjectSettings(options.project_config);
}

Rgb NamedColor(const std::string& name) {
  static const std::pair<const char*, Rgb> kNames[] = {
      {"black", {0, 0, 0}},      {"k", {0, 0, 0}},          {"white", {255, 255, 255}}, {"w", {255, 255, 255}},
      {"red", {255, 0, 0}},      {"r", {255, 0, 0}},        {"green", {0, 128, 0}},     {"g", {0, 128, 0}},
      {"blue", {0, 0, 255}},     {"b", {0, 0, 255}},        {"yellow", {255, 255, 0}},  {"y", {191, 191, 0}},
      {"cyan", {0, 255, 255}},   {"c", {0, 191, 191}},      {"magenta", {255, 0, 255}}, {"m", {191, 0, 191}},
      {"gray", {128, 128, 128}}, {"grey", {128, 128, 128}}, {"orange", {255, 165, 0}},
  };
  for (const auto& [n, c] : kNames)
    if (name == n) return c;
  if (name.size() == 7 && name[0] == '#') {
    auto hex = [&](size_t i) { return static_cast<uint8_t>(std::strtol(name.substr(i, 2).c_str(), nullptr, 16)); };
    return Rgb{hex(1), hex(3), hex(5)};
  }
  return Rgb{0, 0, 0};
}

DrawStyle ResolveStyle(const LabeledVideoOptions& o, const ProjectSettings& project, const PoseColumns& columns,
                       std::vector<std::string>* notes) {
  DrawStyle s;
  s.pcutoff = o.pcutoff >= 0 ? o.pcutoff : (project.pcutoff >= 0 ? project.pcutoff : 0.6);
  s.dotsize = o.dotsize > 0 ? o.dotsize : (project.dotsize > 0 ? project.dotsize : 8);
  s.colormap = !o.colormap.empty() ? o.colormap : (!project.colormap.empty() ? project.colormap : "rainbow");
  Colormap::Named(s.colormap);  // throws for an unknown name
  if (o.color_by.empty()) {
    s.color_by_individual = columns.multi_animal;
  } else if (o.color_by == "individual" || o.color_by == "bodypart") {
    s.color_by_individual = o.color_by == "individual";
  } else {
    throw Error(Status::InvalidArgument("color_by must be bodypart or individual, got '" + o.color_by + "'"));
  }
  s.skeleton_color = NamedColor(project.skeleton_color.empty() ? "black" : project.skeleton_color);
  s.trail = std::max(0, o.trail);
  s.boxes = o.boxes;
  s.draw_skeleton = o.draw_skeleton;
  if (o.draw_skeleton) {
    const auto& pairs = o.skeleton.empty() ? project.skeleton : o.skeleton;
    for (const auto& [a, b] : pairs) {
      const int ia = columns.BodypartIndex(a), ib = columns.BodypartIndex(b);
      if (ia < 0 || ib < 0) {
        if (notes != nullptr) notes->push_back("skeleton pair " + a + "-" + b + ": no such bodypart, not drawn");
        continue;
      }
      s.skeleton.emplace_back(ia, ib);
    }
    if (pairs.empty() && notes != nullptr) {
      notes->push_back(
          "--draw-skeleton: no skeleton given (--skeleton) or in a project config.yaml; none "
          "drawn");
    }
  }
  return s;
}

}  // namespace posebatch::viz
