// Registry of native architectures: adding one is one file with a Register* call.
// Builders read DeepLabCut's config (as YAML) and register their tensors in a ParamSet under
// the exact state-dict names.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/native/layers.h"

namespace posebatch::native {

// Immutable after loading; Forward is const.
class Backbone {
 public:
  virtual ~Backbone() = default;
  virtual at::Tensor Forward(const at::Tensor& x) const = 0;
  virtual int64_t stride() const = 0;  // input pixels per feature cell
  virtual int64_t out_channels() const = 0;
  virtual void Prepare() {}  // after weights are loaded
  virtual std::string Describe() const = 0;
};

class Head {
 public:
  virtual ~Head() = default;
  virtual std::map<std::string, at::Tensor> Forward(const at::Tensor& features) const = 0;
  virtual void Prepare() {}
};

using BackboneBuilder =
    std::function<std::unique_ptr<Backbone>(const YAML::Node& cfg, ParamSet& params, const std::string& prefix)>;
using HeadBuilder = std::function<std::unique_ptr<Head>(const YAML::Node& cfg, int64_t in_channels, ParamSet& params,
                                                        const std::string& prefix)>;

// By DeepLabCut's model.backbone.type (ResNet, HRNet, ...) and model.heads.<name>.type.
std::map<std::string, BackboneBuilder>& BackboneRegistry();
std::map<std::string, HeadBuilder>& HeadRegistry();

// A network's heads by their config names, in config order.
using NamedHeads = std::vector<std::pair<std::string, std::unique_ptr<Head>>>;

// Builds every head of `model`'s heads map (each by its type, from HeadRegistry) on features
// of `in_channels`; throws Error (kModelError) naming `origin` and the head.
NamedHeads BuildHeads(const YAML::Node& model, int64_t in_channels, ParamSet& params, const std::string& origin);

// The part of a native network's Describe() after its backbone: "bodypart, paf heads, 23.73M
// parameters, on cpu (float16), channels-last, from <origin>".
std::string DescribeHeadsAndWeights(const NamedHeads& heads, const ParamSet& params, const std::string& device,
                                    bool half, bool channels_last, const std::string& origin);

// Explicit registration (no static-initialisation order games in a static library).
void RegisterResNet();
void RegisterDLCRNet();
void RegisterHRNet();
void RegisterHeatmapHead();
void RegisterDLCRNetHead();
void RegisterDekrHead();
void RegisterCSPNeXt();
void RegisterRTMCCHead();
void RegisterAll();

}  // namespace posebatch::native
