#include "model/native/registry.h"

#include <cstdio>
#include <mutex>

#include "posebatch/status.h"

namespace posebatch::native {

std::map<std::string, BackboneBuilder>& BackboneRegistry() {
  static std::map<std::string, BackboneBuilder> r;
  return r;
}

std::map<std::string, HeadBuilder>& HeadRegistry() {
  static std::map<std::string, HeadBuilder> r;
  return r;
}

NamedHeads BuildHeads(const YAML::Node& model, int64_t in_channels, ParamSet& params, const std::string& origin) {
  const auto bad = [&origin](const std::string& what) { return Error(Status::ModelError(origin + ": " + what)); };
  const YAML::Node hs = model["heads"];
  if (!hs || !hs.IsMap()) throw bad("config has no model.heads");
  NamedHeads heads;
  for (const auto& kv : hs) {
    const std::string name = kv.first.as<std::string>();
    const std::string type = kv.second["type"] ? kv.second["type"].as<std::string>() : "";
    auto hit = HeadRegistry().find(type);
    if (hit == HeadRegistry().end()) throw bad("head '" + name + "' of type '" + type + "' is not built natively yet");
    try {
      heads.emplace_back(name, hit->second(kv.second, in_channels, params, "heads." + name + "."));
    } catch (const YAML::Exception& e) {
      throw bad("bad config for head '" + name + "' (" + e.what() + ")");
    }
  }
  return heads;
}

std::string DescribeHeadsAndWeights(const NamedHeads& heads, const ParamSet& params, const std::string& device,
                                    bool half, bool channels_last, const std::string& origin) {
  std::string text;
  for (size_t i = 0; i < heads.size(); ++i) text += (i ? ", " : "") + heads[i].first;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2fM parameters", params.NumParameters() / 1e6);
  return text + " head" + (heads.size() > 1 ? "s" : "") + ", " + buf + ", on " + device + (half ? " (float16)" : "") +
         (channels_last ? ", channels-last" : "") + ", from " + origin;
}

void RegisterAll() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterResNet();
    RegisterDLCRNet();
    RegisterHRNet();
    RegisterHeatmapHead();
    RegisterDLCRNetHead();
    RegisterDekrHead();
    RegisterCSPNeXt();
    RegisterRTMCCHead();
  });
}

}  // namespace posebatch::native
