// Reads a DeepLabCut export (.pt) into what BuildNativeNetwork takes, for the model tests.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "io/torch_pickle.h"
#include "model/config_internal.h"
#include "model/native/layers.h"

namespace posebatch {

// The model file's config and pose state dict.
struct Export {
  YAML::Node config;
  native::StateDict pose;
};

inline Export ReadExport(const std::string& path) {
  PyRef root = LoadTorchFile(path);
  Export e;
  e.config = PyToYaml(*root->Get("config"));
  for (const auto& [k, v] : root->Get("pose")->dict) e.pose[k->s] = v->tensor;
  return e;
}

}  // namespace posebatch
