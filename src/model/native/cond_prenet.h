// Conditional top-down networks (DeepLabCut's CondPreNet backbone) built natively.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "model/native/layers.h"
#include "posebatch/conditional_network.h"

namespace posebatch::native {

// From a config whose model.backbone.type is CondPreNet: its wrapped backbone from the
// registry, its pre-nets, and the heads; loads `state_dict` strictly. Throws Error naming
// `origin`.
std::unique_ptr<ConditionalNetwork> BuildCondPreNetNetwork(const YAML::Node& config, StateDict state_dict,
                                                           const std::string& origin, const std::string& device,
                                                           bool half = false, bool channels_last = false);

}  // namespace posebatch::native
