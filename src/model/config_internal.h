#pragma once

#include <yaml-cpp/yaml.h>

#include "io/torch_pickle.h"
#include "posebatch/model.h"

namespace posebatch {

// A present, non-null value (absent keys and "~" both count as missing).
inline bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

// node[key] when node is a mapping, else an undefined node (never throws, never inserts).
inline YAML::Node Child(const YAML::Node& node, const char* key) {
  return (Present(node) && node.IsMap()) ? node[key] : YAML::Node();
}

// ParseModelConfig on an already-parsed YAML tree (config_text is left empty).
ModelSpec ParseModelConfigNode(const YAML::Node& root, const std::string& origin);

// data.inference.top_down_crop of a whole pytorch_config tree, with DeepLabCut's defaults
// (context: true for method td, false for ctd). Throws Error naming `origin` on bad values.
TopDownCropSpec ParseTopDownCropSpec(const YAML::Node& config, const std::string& origin);

// A head's `predictor` block of type SimCCPredictor. Throws Error naming `origin`.
SimCCPredictorSpec ParseSimCCPredictor(const YAML::Node& predictor, const std::string& origin);

// A pickled config dict (DeepLabCut export) as a YAML tree.
YAML::Node PyToYaml(const PyObject& value);

}  // namespace posebatch
