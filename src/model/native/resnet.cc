// ResNet backbones as DeepLabCut builds them (see resnet.h).
#include "model/native/resnet.h"

#include <vector>

#include "posebatch/status.h"

namespace posebatch::native {

at::Tensor Bottleneck::Forward(const at::Tensor& x) const {
  at::Tensor y = bn1(conv1(x));
  y.relu_();
  y = bn2(conv2(y));
  y.relu_();
  y = bn3(conv3(y));
  at::Tensor shortcut = has_down ? down_norm(down_conv(x)) : x;
  return at::relu_(y.add_(shortcut));
}

ResNet::ResNet(const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
  name_ = cfg["model_name"] ? cfg["model_name"].as<std::string>() : "resnet50";
  output_stride_ = cfg["output_stride"] ? cfg["output_stride"].as<int64_t>() : 32;
  if (output_stride_ != 8 && output_stride_ != 16 && output_stride_ != 32) {
    throw Error(Status::ModelError("ResNet output_stride must be 8, 16 or 32, not " + std::to_string(output_stride_)));
  }
  std::vector<int> layers;
  if (name_ == "resnet50" || name_ == "resnet50_gn")
    layers = {3, 4, 6, 3};
  else if (name_ == "resnet101" || name_ == "resnet101_gn")
    layers = {3, 4, 23, 3};
  else if (name_ == "resnet152")
    layers = {3, 8, 36, 3};
  else
    throw Error(
        Status::ModelError("ResNet variant '" + name_ + "' is not supported (resnet50[_gn], resnet101, resnet152)"));
  const auto kind =
      name_.size() > 3 && name_.compare(name_.size() - 3, 3, "_gn") == 0 ? Norm2d::Kind::kGroup : Norm2d::Kind::kBatch;
  const std::string m = prefix + "model.";
  conv1_ = Conv2d(p, m + "conv1.", 3, 64, 7, 2, 3);
  bn1_ = Norm2d(p, m + "bn1.", 64, kind);
  int64_t inplanes = 64, net_stride = 4, dilation = 1, prev_dilation = 1;
  const int64_t planes_per_stage[] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    int64_t stride = stage == 0 ? 1 : 2;
    if (net_stride >= output_stride_) {  // timm: trade stride for dilation past output_stride
      dilation *= stride;
      stride = 1;
    } else {
      net_stride *= stride;
    }
    const int64_t planes = planes_per_stage[stage], outplanes = planes * 4;
    for (int b = 0; b < layers[stage]; ++b) {
      const std::string bp = m + "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
      const int64_t s = b == 0 ? stride : 1;
      Bottleneck blk;
      blk.conv1 = Conv2d(p, bp + "conv1.", inplanes, planes, 1);
      blk.bn1 = Norm2d(p, bp + "bn1.", planes, kind);
      blk.conv2 = Conv2d(p, bp + "conv2.", planes, planes, 3, s, prev_dilation, prev_dilation);
      blk.bn2 = Norm2d(p, bp + "bn2.", planes, kind);
      blk.conv3 = Conv2d(p, bp + "conv3.", planes, outplanes, 1);
      blk.bn3 = Norm2d(p, bp + "bn3.", outplanes, kind);
      if (b == 0 && (s != 1 || inplanes != outplanes)) {
        blk.has_down = true;
        blk.down_conv = Conv2d(p, bp + "downsample.0.", inplanes, outplanes, 1, s);
        blk.down_norm = Norm2d(p, bp + "downsample.1.", outplanes, kind);
      }
      blocks_.push_back(Block{stage + 1, b, std::move(blk)});
      prev_dilation = dilation;
      inplanes = outplanes;
    }
  }
  stride_ = net_stride;
  out_channels_ = inplanes;
}

at::Tensor ResNet::Forward(const at::Tensor& x, const BlockTap& tap) const {
  at::Tensor y = bn1_(conv1_(x));
  y.relu_();
  y = at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
  for (const auto& b : blocks_) {
    y = b.body.Forward(y);
    if (tap) tap(b.layer, b.index, y);
  }
  return y;
}

std::string ResNet::Describe() const { return name_ + " (output stride " + std::to_string(output_stride_) + ")"; }

void RegisterResNet() {
  BackboneRegistry()["ResNet"] = [](const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Backbone>(new ResNet(cfg, p, prefix));
  };
}

}  // namespace posebatch::native
