#pragma once

#include <yaml-cpp/yaml.h>

#include "io/torch_pickle.h"
#include "posebatch/model.h"

namespace posebatch {

// ParseModelConfig on an already-parsed YAML tree (config_text is left empty).
ModelSpec ParseModelConfigNode(const YAML::Node& root, const std::string& origin);

// A pickled config dict (DeepLabCut export) as a YAML tree.
YAML::Node PyToYaml(const PyObject& value);

}  // namespace posebatch
