// DeepLabCut's DLCRNet backbone (backbones/resnet.py; net types dlcrnet_stride16_ms5 and
// dlcrnet_stride32_ms5): a timm ResNet whose final features are concatenated with two
// multi-scale branches read from inside it (forward hooks on layer1[2] and layer2[2]):
//   bank1 = layer1[2] (stride 4) -> conv_block3 (3x3/2) -> conv_block4 (3x3/2) -> conv_block5 (1x1)
//   bank2 = layer2[2] (stride 8) -> conv_block1 (3x3/2) -> conv_block2 (1x1)
// each conv_block being Conv2d (with bias, no padding) + BatchNorm2d + ReLU. The unpadded
// strided convolutions leave the branches a cell or so off the final map's size, so both are
// resized to it (torchvision's resize: bilinear, antialias, unchanged when already that size)
// and the output is cat(bank1, bank2, resnet) = 128 + 128 + 2048 channels.
#include <c10/util/Optional.h>

#include "model/native/resnet.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

struct ConvBlock {
  Conv2d conv;
  Norm2d norm;

  ConvBlock() = default;
  ConvBlock(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride)
      : conv(p, prefix + "0.", in, out, k, stride, /*padding=*/0, /*dilation=*/1, /*bias=*/true),
        norm(p, prefix + "1.", out, Norm2d::Kind::kBatch) {}
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = norm(conv(x));
    return y.relu_();
  }
};

// torchvision.transforms.functional.resize(x, [h, w], antialias=True) on a float tensor.
at::Tensor ResizeLikeTorchvision(const at::Tensor& x, int64_t h, int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  if (x.scalar_type() == at::kBFloat16) {  // LibTorch 1.13 has no bfloat16 antialiased resize
    const at::MemoryFormat format = x.suggest_memory_format();
    return ResizeLikeTorchvision(x.to(at::kFloat, false, false, format), h, w).to(at::kBFloat16, false, false, format);
  }
  return at::_upsample_bilinear2d_aa(x, at::IntArrayRef{h, w}, /*align_corners=*/false, c10::nullopt);
}

class DLCRNet : public Backbone {
 public:
  DLCRNet(const YAML::Node& cfg, ParamSet& p, const std::string& prefix) : resnet_(cfg, p, prefix) {
    block1_ = ConvBlock(p, prefix + "conv_block1.", 512, 512, 3, 2);
    block2_ = ConvBlock(p, prefix + "conv_block2.", 512, 128, 1, 1);
    block3_ = ConvBlock(p, prefix + "conv_block3.", 256, 256, 3, 2);
    block4_ = ConvBlock(p, prefix + "conv_block4.", 256, 256, 3, 2);
    block5_ = ConvBlock(p, prefix + "conv_block5.", 256, 128, 1, 1);
  }

  at::Tensor Forward(const at::Tensor& x) const override {
    at::Tensor bank1, bank2;  // layer1[2] (stride 4) and layer2[2] (stride 8) outputs
    const at::Tensor out = resnet_.Forward(x, [&](int layer, int block, const at::Tensor& y) {
      if (block != 2) return;
      if (layer == 1) bank1 = y;
      if (layer == 2) bank2 = y;
    });
    if (!bank1.defined() || !bank2.defined()) {
      throw Error(Status::ModelError("DLCRNet: the ResNet has no layer1[2] or layer2[2] block"));
    }
    const int64_t h = out.size(2), w = out.size(3);
    at::Tensor b2 = block2_(block1_(bank2));
    at::Tensor b1 = block5_(block4_(block3_(bank1)));
    return at::cat({ResizeLikeTorchvision(b1, h, w), ResizeLikeTorchvision(b2, h, w), out}, 1);
  }
  int64_t stride() const override { return resnet_.stride(); }
  int64_t out_channels() const override { return 128 + 128 + resnet_.out_channels(); }
  std::string Describe() const override { return "DLCRNet multi-scale " + resnet_.Describe(); }

 private:
  ResNet resnet_;
  ConvBlock block1_, block2_, block3_, block4_, block5_;
};

}  // namespace

void RegisterDLCRNet() {
  BackboneRegistry()["DLCRNet"] = [](const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Backbone>(new DLCRNet(cfg, p, prefix));
  };
}

}  // namespace posebatch::native
