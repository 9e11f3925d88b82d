#include "model/native/detectors.h"

#include <mutex>

#include "model/config_internal.h"  // Present, Child
#include "model/device.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(Status::ModelError(origin + ": " + what));
}

}  // namespace

std::map<std::string, DetectorBuilder>& DetectorRegistry() {
  static std::map<std::string, DetectorBuilder> r;
  return r;
}

void RegisterAllDetectors() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterSsdlite();
    RegisterFasterRcnn();
  });
}

DetectorSpec ParseDetectorSpec(const YAML::Node& config, const std::string& origin) {
  DetectorSpec spec;
  try {
    const YAML::Node detector = Child(config, "detector");
    if (!Present(detector)) Bad(origin, "config has no detector block (not a top-down model)");
    const YAML::Node model = Child(detector, "model");
    if (!Present(Child(model, "type"))) Bad(origin, "config has no detector.model.type");
    spec.type = model["type"].as<std::string>();
    if (Present(Child(model, "variant"))) spec.variant = model["variant"].as<std::string>();
    if (Present(Child(model, "box_score_thresh"))) spec.score_threshold = model["box_score_thresh"].as<double>();
    // DeepLabCut's detector runner keeps as many boxes as the project has individuals.
    const YAML::Node individuals = Child(Child(config, "metadata"), "individuals");
    if (Present(individuals) && !individuals.IsSequence()) Bad(origin, "metadata.individuals must be a list");
    spec.max_detections = Present(individuals) && individuals.size() > 0 ? static_cast<int>(individuals.size()) : 1;
    const YAML::Node data = Child(detector, "data");
    spec.input.bgr = Present(Child(data, "colormode")) && data["colormode"].as<std::string>() == "BGR";
    const YAML::Node inference = Child(data, "inference");
    if (Present(Child(inference, "normalize_images"))) spec.input.normalize = inference["normalize_images"].as<bool>();
    spec.input.albumentations = true;  // DeepLabCut's detector transform is A.Normalize
    // The detector sees the whole frame: anything else its inference transform could do
    // (resize, padding) would move the boxes, and is not supported.
    for (const char* unsupported : {"resize", "longest_max_size", "auto_padding", "top_down_crop"}) {
      if (Present(Child(inference, unsupported))) {
        Bad(origin, std::string("detector.data.inference.") + unsupported + " is not supported");
      }
    }
  } catch (const YAML::Exception& e) {
    Bad(origin, std::string("bad detector config (") + e.what() + ")");
  }
  return spec;
}

std::unique_ptr<Detector> BuildNativeDetector(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                                              const std::string& device_name) {
  RegisterAllDetectors();
  const c10::Device device = ResolveDevice(device_name);
  DetectorSpec spec = ParseDetectorSpec(config, origin);
  const auto& registry = DetectorRegistry();
  auto it = registry.end();
  if (!spec.variant.empty()) it = registry.find(spec.type + "/" + spec.variant);
  if (it == registry.end()) it = registry.find(spec.type);
  if (it == registry.end()) {
    std::string known;
    for (const auto& kv : registry) known += (known.empty() ? "" : ", ") + kv.first;
    Bad(origin, "detector '" + spec.type + (spec.variant.empty() ? "" : " (" + spec.variant + ")") +
                    "' is not built natively (native: " + known + ")");
  }
  try {
    return it->second(std::move(spec), config, std::move(state_dict), origin, device);
  } catch (const YAML::Exception& e) {
    Bad(origin, std::string("bad detector config (") + e.what() + ")");
  }
}

}  // namespace posebatch::native
