// ResNet backbones as DeepLabCut builds them: timm's ResNet (resnet50_gn, resnet50,
// resnet101, ...) with `output_stride` by dilation, features from forward_features().
// Shared with the backbones built on it (DLCRNet), which also read intermediate blocks.
// Immutable after loading; Forward is const and may run concurrently.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <vector>

#include "model/native/registry.h"

namespace posebatch::native {

// timm Bottleneck: 1x1 -> 3x3 (stride, first_dilation) -> 1x1 (x4), + shortcut.
struct Bottleneck {
  Conv2d conv1, conv2, conv3;
  Norm2d bn1, bn2, bn3;
  bool has_down = false;
  Conv2d down_conv;
  Norm2d down_norm;

  // Returns a new tensor; `x` is left untouched (it may be a tapped feature map).
  at::Tensor Forward(const at::Tensor& x) const;
};

class ResNet : public Backbone {
 public:
  // cfg: DeepLabCut's model.backbone block (model_name, output_stride); tensors are
  // registered as `prefix`model.* (timm's names inside DeepLabCut's `model` attribute).
  ResNet(const YAML::Node& cfg, ParamSet& p, const std::string& prefix);

  // Called with (layer 1..4, block index, block output) after every residual block: what a
  // forward hook on timm's model.layerN[i] sees. The tensor is not modified afterwards.
  using BlockTap = std::function<void(int layer, int block, const at::Tensor& output)>;

  at::Tensor Forward(const at::Tensor& x) const override { return Forward(x, nullptr); }
  at::Tensor Forward(const at::Tensor& x, const BlockTap& tap) const;
  int64_t stride() const override { return stride_; }
  int64_t out_channels() const override { return out_channels_; }
  std::string Describe() const override;

 private:
  struct Block {
    int layer = 1, index = 0;
    Bottleneck body;
  };
  std::string name_;
  int64_t output_stride_ = 32, stride_ = 32, out_channels_ = 2048;
  Conv2d conv1_;
  Norm2d bn1_;
  std::vector<Block> blocks_;
};

}  // namespace posebatch::native
