// Reads a DeepLabCut export (.pt) into what BuildNativeNetwork takes, for the model tests.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "io/torch_pickle.h"
#include "model/config_internal.h"
#include "model/native/layers.h"
#include "npy.h"

namespace posebatch {

// The model file's config, pose state dict and (top-down models) detector state dict.
struct Export {
  YAML::Node config;
  native::StateDict pose;
  native::StateDict detector;  // empty when the export has none
};

inline Export ReadExport(const std::string& path) {
  PyRef root = LoadTorchFile(path);
  Export e;
  e.config = PyToYaml(*root->Get("config"));
  for (const auto& [k, v] : root->Get("pose")->dict) e.pose[k->s] = v->tensor;
  if (const PyObject* det = root->Get("detector")) {
    for (const auto& [k, v] : det->dict) e.detector[k->s] = v->tensor;
  }
  return e;
}

namespace testing {

// A golden .npy (as float64 by LoadNpy) as a float32 tensor of its shape.
inline at::Tensor NpyTensor(const std::string& path) {
  auto a = LoadNpy(path);
  return at::from_blob(a.data.data(), a.shape, at::kDouble).to(at::kFloat);
}

}  // namespace testing
}  // namespace posebatch
