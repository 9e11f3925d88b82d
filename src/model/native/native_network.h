#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "model/native/layers.h"
#include "posebatch/model.h"

namespace posebatch::native {

// Builds the network DeepLabCut's config describes (model.backbone, model.heads) from the
// registry and loads `state_dict` strictly, on `device` ("cpu", "cuda[:N]"), in float16 if
// `half` (GPU only), channels-last if `channels_last`. Throws Error naming `origin`.
std::unique_ptr<Network> BuildNativeNetwork(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                                            const std::string& device, bool half = false, bool channels_last = false,
                                            const std::string& precision = "float32");

}  // namespace posebatch::native
