// DeepLabCut's CondPreNet (models/backbones/cond_prenet.py): the backbone of conditional
// top-down models. The crop goes through an RGB pre-net (3x3 conv 3->64 + BN, 7x7 conv
// 64->3 + BN), the condition pose through StackedKeypointEncoder (K heatmap channels, see
// preprocess/ctd_conditions.h) and a condition pre-net (7x7 conv K->3 + BN); their sum enters
// the wrapped backbone (any registered one, e.g. CSPNeXt), whose features go to the heads.
#include "model/native/cond_prenet.h"

#include <ATen/ATen.h>

#include "model/device.h"
#include "model/native/registry.h"
#include "posebatch/status.h"
#include "preprocess/ctd_conditions.h"

namespace posebatch {

HeadOutputs ConditionalNetwork::Forward(const at::Tensor&) {
  throw Error(
      Status::InvalidArgument("this conditional top-down network needs condition poses with its "
                              "images (Forward(batch, conditions))"));
}

namespace native {
namespace {

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(Status::ModelError(origin + ": " + what));
}

// Conv2d (bias, "same" padding for odd kernels) followed by eval-mode BatchNorm2d.
struct ConvBn {
  ConvBn() = default;
  ConvBn(ParamSet& p, const std::string& conv, const std::string& bn, int64_t in, int64_t out, int64_t k)
      : conv_(p, conv, in, out, k, 1, k / 2, 1, /*bias=*/true), bn_(p, bn, out, Norm2d::Kind::kBatch, 32, 1e-5) {}
  at::Tensor operator()(const at::Tensor& x) const { return bn_(conv_(x)); }
  Conv2d conv_;
  Norm2d bn_;
};

class CondPreNetNetwork : public ConditionalNetwork {
 public:
  CondPreNetNetwork(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                    const std::string& device_name, bool half, bool channels_last)
      : device_(ResolveDevice(device_name)), half_(half), channels_last_(channels_last) {
    RegisterAll();
    if (half && device_.is_cpu()) Bad(origin, "float16 (--half) needs a GPU (--device cuda)");
    const YAML::Node model = config["model"];
    const YAML::Node bb = model["backbone"];
    const YAML::Node inner = bb["backbone"];
    const YAML::Node enc = bb["kpt_encoder"];
    if (!inner || !inner["type"]) Bad(origin, "CondPreNet config has no backbone.backbone.type");
    if (!enc || !enc["type"] || enc["type"].as<std::string>() != "StackedKeypointEncoder") {
      Bad(origin,
          "CondPreNet kpt_encoder must be StackedKeypointEncoder (ColoredKeypointEncoder is not "
          "built natively)");
    }
    if (model["neck"] && !model["neck"].IsNull()) Bad(origin, "models with a neck are not supported yet");
    ParamSet params;
    try {
      num_joints_ = enc["num_joints"].as<int64_t>();
      if (enc["kernel_size"]) {
        const auto ks = enc["kernel_size"].as<std::vector<int>>();
        if (ks.size() != 2) Bad(origin, "kpt_encoder.kernel_size must be two numbers");
        kernel_w_ = ks[0];
        kernel_h_ = ks[1];
      }
      // The encoder's img_size (its out-of-bounds test): its own, else CondPreNet's; (h, w).
      const YAML::Node size = enc["img_size"] ? enc["img_size"] : bb["img_size"];
      if (size) {
        const auto hw = size.as<std::vector<int>>();
        if (hw.size() != 2) Bad(origin, "CondPreNet img_size must be two numbers");
        img_h_ = hw[0];
        img_w_ = hw[1];
      }
      const std::string type = inner["type"].as<std::string>();
      auto it = BackboneRegistry().find(type);
      if (it == BackboneRegistry().end()) Bad(origin, "CondPreNet backbone '" + type + "' is not built natively");
      backbone_ = it->second(inner, params, "backbone.backbone.");
    } catch (const YAML::Exception& e) {
      Bad(origin, std::string("bad model.backbone config (") + e.what() + ")");
    }
    if (kernel_w_ <= 0 || kernel_h_ <= 0 || kernel_w_ % 2 == 0 || kernel_h_ % 2 == 0) {
      Bad(origin, "kpt_encoder.kernel_size must be odd and positive");
    }
    rgb1_ = ConvBn(params, "backbone.rgb_preNet.0.", "backbone.rgb_preNet.1.", 3, 64, 3);
    rgb2_ = ConvBn(params, "backbone.rgb_preNet.2.", "backbone.rgb_preNet.3.", 64, 3, 7);
    cond_ = ConvBn(params, "backbone.cond_preNet.0.", "backbone.cond_preNet.1.", num_joints_, 3, 7);
    heads_ = BuildHeads(model, backbone_->out_channels(), params, origin);
    params.Load(state_dict, origin, channels_last);
    if (!device_.is_cpu() || half) params.To(device_, half ? at::kHalf : at::kFloat);
    backbone_->Prepare();
    for (auto& h : heads_) h.second->Prepare();
    describe_ = "native CondPreNet(" + backbone_->Describe() + ") + " +
                DescribeHeadsAndWeights(heads_, params, device_.str(), half, channels_last, origin);
  }

  HeadOutputs Forward(const at::Tensor& batch, const at::Tensor& conditions) override {
    const int64_t b = batch.size(0), h = batch.size(2), w = batch.size(3);
    if (conditions.dim() != 3 || conditions.size(0) != b || conditions.size(1) != num_joints_ ||
        conditions.size(2) < 3) {
      throw Error(Status::InvalidArgument("CTD network: conditions must be (" + std::to_string(b) + ", " +
                                          std::to_string(num_joints_) + ", 3), got " +
                                          std::to_string(conditions.dim()) + " dimensions"));
    }
    const at::Tensor cond = conditions.to(at::kFloat).contiguous();
    at::Tensor maps = at::empty({b, num_joints_, h, w}, at::kFloat);
    for (int64_t i = 0; i < b; ++i) {
      EncodeConditions(cond[i].data_ptr<float>(), num_joints_, static_cast<int>(h), static_cast<int>(w), img_h_, img_w_,
                       kernel_w_, kernel_h_, maps[i].data_ptr<float>());
    }
    at::Tensor x = batch;
    if (channels_last_) maps = maps.contiguous(at::MemoryFormat::ChannelsLast);
    if (!device_.is_cpu()) {
      x = x.to(device_, /*non_blocking=*/true);
      maps = maps.to(device_, /*non_blocking=*/true);
    }
    if (half_) {
      x = x.to(at::kHalf);
      maps = maps.to(at::kHalf);
    }
    at::Tensor features = backbone_->Forward(rgb2_(rgb1_(x)) + cond_(maps));
    HeadOutputs out;
    for (const auto& [name, head] : heads_) {
      auto& outputs = out[name] = head->Forward(features);
      for (auto& kv : outputs) kv.second = kv.second.to(at::kCPU, at::kFloat).contiguous();
    }
    return out;
  }

  int64_t num_conditions() const override { return num_joints_; }
  InputLayout input_layout() const override { return channels_last_ ? InputLayout::kNHWC : InputLayout::kNCHW; }
  std::string Describe() const override { return describe_; }
  std::string precision() const override { return half_ ? "float16" : "float32"; }

 private:
  c10::Device device_;
  bool half_, channels_last_;
  int64_t num_joints_ = 0;
  int kernel_w_ = 15, kernel_h_ = 15;
  int img_h_ = 256, img_w_ = 256;
  std::unique_ptr<Backbone> backbone_;
  ConvBn rgb1_, rgb2_, cond_;
  NamedHeads heads_;
  std::string describe_;
};

}  // namespace

std::unique_ptr<ConditionalNetwork> BuildCondPreNetNetwork(const YAML::Node& config, StateDict state_dict,
                                                           const std::string& origin, const std::string& device,
                                                           bool half, bool channels_last) {
  return std::make_unique<CondPreNetNetwork>(config, std::move(state_dict), origin, device, half, channels_last);
}

}  // namespace native
}  // namespace posebatch
