// DeepLabCut's DEKRHead (heads/dekr.py, modules/conv_block.py): a heatmap head (1x1
// transition conv + BN + ReLU, BasicBlocks, final conv: K keypoint heatmaps and the animal
// centre's last) and an offset head (1x1 transition conv + BN + ReLU to K groups of
// num_offset_per_kpt channels; per keypoint, AdaptBlocks then a final conv to 2 channels).
// An AdaptBlock is a 3x3 deformable convolution whose sampling offsets come from a per-pixel
// 2x2 transform of the regular 3x3 grid (its `regular_matrix` buffer, loaded with the
// weights) plus a translation, followed by BN, the residual and ReLU. Head stride 1: the
// outputs have the backbone's resolution.
#include <yaml-cpp/yaml.h>

#include "model/native/deform_conv.h"
#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

constexpr Norm2d::Kind kBN = Norm2d::Kind::kBatch;

[[noreturn]] void Bad(const std::string& what) { throw Error(Status::ModelError(what)); }

std::vector<int64_t> Channels(const YAML::Node& cfg, const std::string& where) {
  const YAML::Node ch = cfg["channels"];
  if (!ch || !ch.IsSequence() || ch.size() != 3) Bad(where + ".channels must hold 3 numbers");
  return {ch[0].as<int64_t>(), ch[1].as<int64_t>(), ch[2].as<int64_t>()};
}

int64_t Int(const YAML::Node& cfg, const char* key, const std::string& where) {
  if (!cfg[key]) Bad("missing field " + where + "." + key);
  return cfg[key].as<int64_t>();
}

// nn.Sequential(Conv2d(in, out, 1, bias=False), BatchNorm2d(out), ReLU).
struct Transition {
  Conv2d conv;
  Norm2d bn;
  Transition(ParamSet& p, const std::string& prefix, int64_t in, int64_t out)
      : conv(p, prefix + "0.", in, out, 1), bn(p, prefix + "1.", out, kBN) {}
  at::Tensor operator()(const at::Tensor& x) const { return bn(conv(x)).relu_(); }
};

// conv_block.BasicBlock with equal input and output widths (DEKR never downsamples).
struct BasicBlock {
  Conv2d conv1, conv2;
  Norm2d bn1, bn2;
  BasicBlock(ParamSet& p, const std::string& prefix, int64_t c, int64_t dilation)
      : conv1(p, prefix + "conv1.", c, c, 3, 1, dilation, dilation),
        conv2(p, prefix + "conv2.", c, c, 3, 1, dilation, dilation),
        bn1(p, prefix + "bn1.", c, kBN),
        bn2(p, prefix + "bn2.", c, kBN) {}
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = bn1(conv1(x)).relu_();
    return bn2(conv2(y)).add_(x).relu_();
  }
};

// conv_block.AdaptBlock with equal widths, stride 1 and one deformable group.
struct AdaptBlock {
  Conv2d transform_matrix_conv, translation_conv;
  std::shared_ptr<at::Tensor> adapt_weight, regular_matrix;
  Norm2d bn;
  int64_t dilation;
  AdaptBlock(ParamSet& p, const std::string& prefix, int64_t c, int64_t dilation_)
      : transform_matrix_conv(p, prefix + "transform_matrix_conv.", c, 4, 3, 1, 1, 1, true),
        translation_conv(p, prefix + "translation_conv.", c, 2, 3, 1, 1, 1, true),
        adapt_weight(p.Add(prefix + "adapt_conv.weight", {c, c, 3, 3})),
        regular_matrix(p.Add(prefix + "regular_matrix", {2, 9})),
        bn(p, prefix + "bn.", c, kBN),
        dilation(dilation_) {}
  at::Tensor operator()(const at::Tensor& x) const {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    // Per pixel: M (2x2) @ regular grid (2x9) - regular grid, as (tap, dy/dx) pairs.
    const at::Tensor m = transform_matrix_conv(x).permute({0, 2, 3, 1}).reshape({n * h * w, 2, 2});
    at::Tensor offset =
        (at::matmul(m, *regular_matrix) - *regular_matrix).transpose(1, 2).reshape({n, h, w, 18}).permute({0, 3, 1, 2});
    const at::Tensor t = translation_conv(x);
    offset.slice(1, 0, c10::nullopt, 2).add_(t.narrow(1, 0, 1));
    offset.slice(1, 1, c10::nullopt, 2).add_(t.narrow(1, 1, 1));
    at::Tensor y = bn(DeformConv2d(x, offset, *adapt_weight, at::Tensor(), 1, dilation, dilation));
    return y.add_(x).relu_();
  }
};

// Padding of the final convolutions: 1 for 3x3 kernels, else none (as DeepLabCut).
int64_t FinalPadding(int64_t kernel) { return kernel == 3 ? 1 : 0; }

class DekrHead : public Head {
 public:
  DekrHead(const YAML::Node& cfg, int64_t in_channels, ParamSet& p, const std::string& prefix) {
    const std::string where = prefix.substr(0, prefix.size() - 1);
    const YAML::Node hm = cfg["heatmap_config"], off = cfg["offset_config"];
    if (!hm || !hm.IsMap()) Bad("missing field " + where + ".heatmap_config");
    if (!off || !off.IsMap()) Bad("missing field " + where + ".offset_config");
    if (cfg["stride"] && cfg["stride"].as<double>() != 1) Bad(where + ".stride must be 1 for DEKR");

    const std::vector<int64_t> hc = Channels(hm, where + ".heatmap_config");
    if (hc[0] != in_channels) {
      Bad(where + ".heatmap_config expects " + std::to_string(hc[0]) + " input channels but the backbone gives " +
          std::to_string(in_channels));
    }
    const std::string hp = prefix + "heatmap_head.";
    heatmap_transition_ = std::make_unique<Transition>(p, hp + "transition_heatmap.", hc[0], hc[1]);
    const int64_t hm_dilation = Int(hm, "dilation_rate", where + ".heatmap_config");
    for (int64_t b = 0; b < Int(hm, "num_blocks", where + ".heatmap_config"); ++b) {
      heatmap_blocks_.emplace_back(p, hp + "head_heatmap.0." + std::to_string(b) + ".", hc[1], hm_dilation);
    }
    const int64_t hk = Int(hm, "final_conv_kernel", where + ".heatmap_config");
    heatmap_final_ = Conv2d(p, hp + "head_heatmap.1.", hc[1], hc[2], hk, 1, FinalPadding(hk), 1, true);

    const std::vector<int64_t> oc = Channels(off, where + ".offset_config");
    if (oc[0] != in_channels) {
      Bad(where + ".offset_config expects " + std::to_string(oc[0]) + " input channels but the backbone gives " +
          std::to_string(in_channels));
    }
    per_keypoint_ = Int(off, "num_offset_per_kpt", where + ".offset_config");
    num_keypoints_ = oc[2];
    if (per_keypoint_ < 1 || num_keypoints_ < 1 || oc[1] != per_keypoint_ * num_keypoints_) {
      Bad(where + ".offset_config.channels[1] must be num_offset_per_kpt x channels[2]");
    }
    if (hc[2] != num_keypoints_ + 1) {
      Bad(where + ": the heatmap head gives " + std::to_string(hc[2]) + " channels, expected the " +
          std::to_string(num_keypoints_) + " keypoints of the offset head plus the centre");
    }
    const std::string op = prefix + "offset_head.";
    offset_transition_ = std::make_unique<Transition>(p, op + "transition_offset.", oc[0], oc[1]);
    const int64_t off_dilation = Int(off, "dilation_rate", where + ".offset_config");
    const int64_t blocks = Int(off, "num_blocks", where + ".offset_config");
    const int64_t ok = Int(off, "final_conv_kernel", where + ".offset_config");
    for (int64_t j = 0; j < num_keypoints_; ++j) {
      const std::string jn = std::to_string(j);
      offset_blocks_.emplace_back();
      for (int64_t b = 0; b < blocks; ++b) {
        offset_blocks_.back().emplace_back(p, op + "offset_feature_layers." + jn + "." + std::to_string(b) + ".",
                                           per_keypoint_, off_dilation);
      }
      offset_final_.emplace_back(p, op + "offset_final_layer." + jn + ".", per_keypoint_, 2, ok, 1, FinalPadding(ok), 1,
                                 true);
    }
  }

  std::map<std::string, at::Tensor> Forward(const at::Tensor& x) const override {
    std::map<std::string, at::Tensor> out;
    at::Tensor h = (*heatmap_transition_)(x);
    for (const auto& b : heatmap_blocks_) h = b(h);
    out["heatmap"] = heatmap_final_(h);
    const at::Tensor features = (*offset_transition_)(x);
    std::vector<at::Tensor> offsets;
    for (int64_t j = 0; j < num_keypoints_; ++j) {
      at::Tensor f = features.narrow(1, j * per_keypoint_, per_keypoint_);
      for (const auto& b : offset_blocks_[j]) f = b(f);
      offsets.push_back(offset_final_[j](f));
    }
    out["offset"] = at::cat(offsets, 1);
    return out;
  }

 private:
  std::unique_ptr<Transition> heatmap_transition_, offset_transition_;
  std::vector<BasicBlock> heatmap_blocks_;
  Conv2d heatmap_final_;
  int64_t per_keypoint_ = 0, num_keypoints_ = 0;
  std::vector<std::vector<AdaptBlock>> offset_blocks_;
  std::vector<Conv2d> offset_final_;
};

}  // namespace

void RegisterDekrHead() {
  HeadRegistry()["DEKRHead"] = [](const YAML::Node& cfg, int64_t in, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Head>(new DekrHead(cfg, in, p, prefix));
  };
}

}  // namespace posebatch::native
