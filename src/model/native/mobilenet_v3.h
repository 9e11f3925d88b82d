// MobileNetV3-Large feature extractor (torchvision 0.14's `mobilenet_v3_large().features`), the
// backbone of both DeepLabCut detectors:
//  - SSDLite320 (BatchNorm2d eps 0.001, reduced tail: torchvision halves C4/C5 when it gets no
//    ImageNet weights, which is how DeepLabCut builds it by default), tapped inside layer 13,
//    after its 1x1 expansion, and at the end;
//  - Faster R-CNN MobileNetV3-Large-FPN (FrozenBatchNorm2d eps 1e-5, full tail), tapped after
//    layers 13 and 16.
//
// The 17 layers are torchvision's `features[i]`: 0 is the stem (3x3 conv, stride 2, Hardswish),
// 1..15 the inverted residual blocks, 16 the last 1x1 conv (Hardswish). Each detector stores them
// under its own state-dict names, so the names come from a MobileNetV3Namer.
//
// Immutable after loading: the forward functions are const and may run concurrently.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/native/layers.h"

namespace posebatch::native {

struct MobileNetV3Options {
  // BatchNorm2d (eps 0.001, as torchvision's MobileNetV3 and SSDLite use) or FrozenBatchNorm2d
  // (eps 1e-5, Faster R-CNN's backbone when DeepLabCut builds it).
  Norm2d::Kind norm = Norm2d::Kind::kBatch;
  double eps = 0.001;
  bool reduced_tail = false;  // C4/C5 channels halved (layers 13..16)
  bool dilated = false;       // C4 (layers 13..15) dilated instead of strided
};

// State-dict prefix (ending in '.') of a sub-module of features[layer]: for the stem and the
// last conv (layers 0 and 16) `sub` is -1 and the prefix names the Conv2dNormActivation (its
// conv is "<prefix>0.", its norm "<prefix>1."); for an inverted residual, `sub` indexes its
// `block` Sequential (expansion conv if any, depthwise conv, squeeze-excitation if any,
// projection conv), and the prefix names that module.
using MobileNetV3Namer = std::function<std::string(int layer, int sub)>;

// torchvision's own naming: "<prefix><layer>." and "<prefix><layer>.block.<sub>.", e.g.
// prefix "model.backbone.body." for Faster R-CNN's IntermediateLayerGetter.
MobileNetV3Namer TorchvisionMobileNetV3Namer(const std::string& prefix);

// SSDLite's regrouping (SSDLiteFeatureExtractorMobileNet): "<prefix>features.0." holds layers
// 0..12 and layer 13's expansion, "<prefix>features.1." the rest of layer 13 (a slice of its
// block, which keeps the module indices 1..3), then layers 14..16.
MobileNetV3Namer SsdliteMobileNetV3Namer(const std::string& prefix);

// A 1x1 / kxk convolution + norm + optional activation (torchvision's Conv2dNormActivation,
// no conv bias).
struct ConvNormAct {
  enum class Act { kNone, kReLU, kReLU6, kHardswish };
  ConvNormAct() = default;
  ConvNormAct(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride,
              int64_t groups, int64_t dilation, Act act, Norm2d::Kind norm, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
  Conv2d conv;
  Norm2d norm;
  Act act = Act::kNone;
};

class MobileNetV3Large {
 public:
  static constexpr int kNumLayers = 17;

  MobileNetV3Large() = default;
  MobileNetV3Large(ParamSet& p, const MobileNetV3Namer& names, const MobileNetV3Options& options);

  // features[begin, end)(x).
  at::Tensor Run(const at::Tensor& x, int begin, int end) const;
  // Inverted residual `layer` in two halves (SSDLite taps between them): its 1x1 expansion
  // (conv, norm, activation), then the rest (depthwise, squeeze-excitation, projection). The
  // layer must have an expansion and no residual connection (throws Internal otherwise).
  at::Tensor Expand(const at::Tensor& x, int layer) const;
  at::Tensor FinishExpanded(const at::Tensor& expanded, int layer) const;

  // Channels out of features[layer], and out of its expansion.
  int64_t out_channels(int layer) const;
  int64_t expanded_channels(int layer) const;

 private:
  struct SqueezeExcitation {
    Conv2d fc1, fc2;  // 1x1 with bias: ReLU between, Hardsigmoid after
    at::Tensor operator()(const at::Tensor& x) const;
  };
  struct Block {
    int64_t in = 0, expanded = 0, out = 0;
    bool has_expand = false, has_se = false, residual = false;
    ConvNormAct expand, depthwise, project;
    SqueezeExcitation se;
    at::Tensor AfterExpand(const at::Tensor& expanded, const at::Tensor& input) const;
    at::Tensor operator()(const at::Tensor& x) const;
  };
  const Block& block(int layer) const;

  ConvNormAct stem_, last_;
  std::vector<Block> blocks_;  // features[1..15]
};

}  // namespace posebatch::native
