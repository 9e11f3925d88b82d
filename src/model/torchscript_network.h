#pragma once

#include <memory>
#include <string>

#include "posebatch/model.h"

namespace posebatch {

// Loads a TorchScript module whose forward maps a normalized (B,3,H,W) batch to either
// Dict[str, Dict[str, Tensor]] (DeepLabCut's head outputs), Dict[str, Tensor] (one head,
// named `default_head`), a tuple (heatmap, locref) or a single heatmap tensor.
std::unique_ptr<Network> LoadTorchScriptNetwork(const std::string& path, const std::string& device,
                                                const std::string& default_head);

}  // namespace posebatch
