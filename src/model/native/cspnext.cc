// DeepLabCut's CSPNeXt backbone (models/backbones/cspnext.py, modules/csp.py; RTMPose's
// backbone, after mmdetection): a stride-2 stem of three conv-BN-SiLU modules, then four
// stages (P5 architecture), each a stride-2 conv, an SPP bottleneck in the last, and a CSP
// layer (two 1x1 branches, CSPNeXt blocks with 5x5 depthwise-separable convs on one, channel
// attention on their concatenation, a final 1x1). Widths and depths come from the config's
// widen_factor / deepen_factor (cspnext_s: 0.5 / 0.33, m: 0.75 / 0.67, x: 1.25 / 1.33).
// SyncBatchNorm runs as eval-mode batch norm, as it does in DeepLabCut on one device.
#include "model/native/cspnext.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {

CspConvModule::CspConvModule(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                             int64_t stride_, int64_t padding_, int64_t groups_, Activation act_)
    : stride(stride_), padding(padding_), groups(groups_), act(act_) {
  weight = p.Add(prefix + "conv.weight", {out, in / groups, k, k});
  norm = Norm2d(p, prefix + "norm.", out, Norm2d::Kind::kBatch, 32, 1e-5);
}

at::Tensor CspConvModule::operator()(const at::Tensor& x) const {
  at::Tensor y;
  // oneDNN for every float32 CPU convolution, as PyTorch itself picks it for these layers
  // (grouped or larger than 20480 values).
  if (x.is_cpu() && x.scalar_type() == at::kFloat && at::hasMKLDNN() && at::globalContext().userEnabledMkldnn()) {
    y = at::mkldnn_convolution(x, *weight, c10::nullopt, {padding, padding}, {stride, stride}, {1, 1}, groups);
  } else {
    y = at::conv2d(x, *weight, {}, {stride, stride}, {padding, padding}, {1, 1}, groups);
  }
  y = norm(y);
  if (act == Activation::kSiLU) return at::silu_(y);
  if (act == Activation::kReLU) return at::relu_(y);
  return y;
}

namespace {

Activation ParseActivation(const YAML::Node& cfg) {
  const std::string name = cfg["activation_fn"] ? cfg["activation_fn"].as<std::string>() : "SiLU";
  if (name == "SiLU") return Activation::kSiLU;
  if (name == "ReLU") return Activation::kReLU;
  throw Error(Status::ModelError("CSPNeXt activation_fn '" + name + "' is not one of SiLU, ReLU"));
}

struct CSPNeXtBlock {
  CSPNeXtBlock(ParamSet& p, const std::string& prefix, int64_t channels, bool identity, Activation act)
      : conv1(p, prefix + "conv1.", channels, channels, 3, 1, 1, 1, act),
        depthwise(p, prefix + "conv2.depthwise_conv.", channels, channels, 5, 1, 2, channels, act),
        pointwise(p, prefix + "conv2.pointwise_conv.", channels, channels, 1, 1, 0, 1, act),
        add_identity(identity) {}
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = pointwise(depthwise(conv1(x)));
    return add_identity ? y + x : y;
  }
  CspConvModule conv1, depthwise, pointwise;
  bool add_identity;
};

struct CSPLayer {
  CSPLayer(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t blocks, bool identity,
           double expand_ratio, bool channel_attention, Activation act)
      : mid(static_cast<int64_t>(out * expand_ratio)),
        main_conv(p, prefix + "main_conv.", in, mid, 1, 1, 0, 1, act),
        short_conv(p, prefix + "short_conv.", in, mid, 1, 1, 0, 1, act),
        final_conv(p, prefix + "final_conv.", 2 * mid, out, 1, 1, 0, 1, act),
        attention(channel_attention) {
    for (int64_t i = 0; i < blocks; ++i) {
      block.emplace_back(p, prefix + "blocks." + std::to_string(i) + ".", mid, identity, act);
    }
    if (attention) {
      fc_weight = p.Add(prefix + "attention.fc.weight", {2 * mid, 2 * mid, 1, 1});
      fc_bias = p.Add(prefix + "attention.fc.bias", {2 * mid});
    }
  }
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor x_short = short_conv(x);
    at::Tensor x_main = main_conv(x);
    for (const auto& b : block) x_main = b(x_main);
    at::Tensor y = at::cat({x_main, x_short}, 1);
    if (attention) {
      // ChannelAttention: global average pool, 1x1 conv with bias, hard sigmoid, rescale.
      at::Tensor w = at::conv2d(at::adaptive_avg_pool2d(y, {1, 1}), *fc_weight, *fc_bias);
      y = y * at::hardsigmoid(w);
    }
    return final_conv(y);
  }
  int64_t mid;
  CspConvModule main_conv, short_conv, final_conv;
  std::vector<CSPNeXtBlock> block;
  bool attention;
  std::shared_ptr<at::Tensor> fc_weight, fc_bias;
};

struct SPPBottleneck {
  SPPBottleneck(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, Activation act)
      : conv1(p, prefix + "conv1.", in, in / 2, 1, 1, 0, 1, act),
        conv2(p, prefix + "conv2.", in / 2 * 4, out, 1, 1, 0, 1, act) {}
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = conv1(x);
    std::vector<at::Tensor> parts{y};
    for (int64_t k : {5, 9, 13}) parts.push_back(at::max_pool2d(y, {k, k}, {1, 1}, {k / 2, k / 2}));
    return conv2(at::cat(parts, 1));
  }
  CspConvModule conv1, conv2;
};

struct Stage {
  CspConvModule down;
  std::unique_ptr<SPPBottleneck> spp;
  std::unique_ptr<CSPLayer> csp;
};

class CSPNeXt : public Backbone {
 public:
  CSPNeXt(const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
    const std::string arch = cfg["arch"] ? cfg["arch"].as<std::string>() : "P5";
    if (arch != "P5") throw Error(Status::ModelError("CSPNeXt arch '" + arch + "' is not built natively (only P5)"));
    const std::string norm = cfg["norm_layer"] ? cfg["norm_layer"].as<std::string>() : "SyncBN";
    if (norm != "SyncBN" && norm != "BN") {
      throw Error(Status::ModelError("CSPNeXt norm_layer '" + norm + "' is not one of SyncBN, BN"));
    }
    if (cfg["out_indices"] && !(cfg["out_indices"].IsScalar() && cfg["out_indices"].as<int>() == -1)) {
      throw Error(Status::ModelError("CSPNeXt out_indices other than -1 are not built natively"));
    }
    const double widen = cfg["widen_factor"] ? cfg["widen_factor"].as<double>() : 0.75;
    const double deepen = cfg["deepen_factor"] ? cfg["deepen_factor"].as<double>() : 0.67;
    const double expand = cfg["expand_ratio"] ? cfg["expand_ratio"].as<double>() : 0.5;
    const bool attention = cfg["channel_attention"] ? cfg["channel_attention"].as<bool>() : true;
    const Activation act = ParseActivation(cfg);
    name_ = cfg["model_name"] ? cfg["model_name"].as<std::string>() : "cspnext";
    // P5: (in, out, blocks, add_identity, use_spp) per stage; the stem ends at 64 channels.
    struct Layer {
      int in, out, blocks;
      bool identity, spp;
    };
    const Layer layers[] = {
        {64, 128, 3, true, false}, {128, 256, 6, true, false}, {256, 512, 6, true, false}, {512, 1024, 3, false, true}};
    // int(a * b) and Python's int(64 * widen // 2): floor division of a float.
    const auto widen_int = [&](int c) { return static_cast<int64_t>(c * widen); };
    const int64_t stem_half = static_cast<int64_t>(std::floor(64 * widen / 2));
    const int64_t stem_out = widen_int(64);
    const std::string sp = prefix + "stem.";
    stem_.emplace_back(p, sp + "0.", 3, stem_half, 3, 2, 1, 1, act);
    stem_.emplace_back(p, sp + "1.", stem_half, stem_half, 3, 1, 1, 1, act);
    stem_.emplace_back(p, sp + "2.", stem_half, stem_out, 3, 1, 1, 1, act);
    for (int i = 0; i < 4; ++i) {
      const Layer& l = layers[i];
      const int64_t in = widen_int(l.in), out = widen_int(l.out);
      // max(round(blocks * deepen), 1) with Python's half-to-even round.
      const int64_t blocks = std::max<int64_t>(static_cast<int64_t>(std::nearbyint(l.blocks * deepen)), 1);
      const std::string s = prefix + "stage" + std::to_string(i + 1) + ".";
      Stage st{CspConvModule(p, s + "0.", in, out, 3, 2, 1, 1, act), nullptr, nullptr};
      int next = 1;
      if (l.spp) st.spp = std::make_unique<SPPBottleneck>(p, s + std::to_string(next++) + ".", out, out, act);
      st.csp = std::make_unique<CSPLayer>(p, s + std::to_string(next) + ".", out, out, blocks, l.identity, expand,
                                          attention, act);
      stages_.push_back(std::move(st));
      out_channels_ = out;
    }
  }

  at::Tensor Forward(const at::Tensor& input) const override {
    at::Tensor x = input;
    for (const auto& m : stem_) x = m(x);
    for (const auto& st : stages_) {
      x = st.down(x);
      if (st.spp) x = (*st.spp)(x);
      x = (*st.csp)(x);
    }
    return x;
  }
  int64_t stride() const override { return 32; }
  int64_t out_channels() const override { return out_channels_; }
  std::string Describe() const override { return "CSPNeXt " + name_; }

 private:
  std::string name_;
  std::vector<CspConvModule> stem_;
  std::vector<Stage> stages_;
  int64_t out_channels_ = 0;
};

}  // namespace

void RegisterCSPNeXt() {
  BackboneRegistry()["CSPNeXt"] = [](const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Backbone>(new CSPNeXt(cfg, p, prefix));
  };
}

}  // namespace posebatch::native
