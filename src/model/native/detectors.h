// Native detectors (LibTorch C++): a DeepLabCut config's `detector` block and the detector's
// state dict (the export's "detector" entry, or a detector snapshot's "model") -> a Detector.
// Adding an architecture is one file with a Register* function that adds a DetectorRegistry()
// entry, called from RegisterAllDetectors().
#pragma once

#include <c10/core/Device.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "model/native/layers.h"
#include "posebatch/detector.h"

namespace posebatch::native {

// DetectorSpec from the whole pytorch_config: detector.model.type / variant,
// detector.data (colormode, inference.normalize_images) and the number of individuals
// (metadata.individuals, as DeepLabCut's detector runner). Throws Error naming `origin`.
DetectorSpec ParseDetectorSpec(const YAML::Node& config, const std::string& origin);

// Builds one architecture: registers its tensors, loads `state_dict` strictly (every tensor
// used, shapes checked), moves it to `device`. `spec` may be adjusted (e.g. the score threshold
// torchvision really applies). `config` is the whole pytorch_config.
using DetectorBuilder = std::function<std::unique_ptr<Detector>(
    DetectorSpec spec, const YAML::Node& config, StateDict state_dict, const std::string& origin, c10::Device device)>;

// Keyed by "<type>/<variant>" (looked up first) or "<type>", with type = detector.model.type
// (SSDLite, FasterRCNN) and variant = detector.model.variant (e.g.
// fasterrcnn_mobilenet_v3_large_fpn). Not thread-safe to modify; RegisterAllDetectors() fills
// it once.
std::map<std::string, DetectorBuilder>& DetectorRegistry();
void RegisterSsdlite();
void RegisterFasterRcnn();
void RegisterAllDetectors();

// The detector the config describes, with `state_dict` loaded strictly, on `device` ("cpu",
// "cuda[:N]"). Throws Error naming `origin` (unknown architecture, mismatched weights, bad
// config).
std::unique_ptr<Detector> BuildNativeDetector(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                                              const std::string& device);

}  // namespace posebatch::native
