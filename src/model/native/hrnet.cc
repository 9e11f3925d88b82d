// HRNet backbones as DeepLabCut builds them (models/backbones/hrnet.py): timm's HRNet created
// with features_only=True, out_indices=(1, 2, 3, 4), so the network returns the four branches
// (strides 4, 8, 16, 32) and DeepLabCut keeps
//  - branch 0 (stride 4), or
//  - with `interpolate_branches`, all four, bilinearly resized to branch 0's size and
//    concatenated (DEKR's input);
//  - with `increased_channel_count`, each branch first goes through timm's "incre" Bottleneck
//    (feature_location="incre"), which widens it to 128/256/512/1024 channels.
// timm's classification head is not part of a features_only model, so its weights never
// appear in DeepLabCut's state dicts.
#include <string>
#include <vector>

#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

constexpr Norm2d::Kind kBN = Norm2d::Kind::kBatch;  // timm's HRNet always uses BatchNorm2d

// One of timm's cfg_cls entries. Stage 1 is always one Bottleneck layer of stage1_channels
// planes; stages 2-4 are BasicBlock branches with the given widths.
struct HRNetConfig {
  int stage1_blocks;
  int64_t stage1_channels;
  std::vector<int> modules;     // per stage 2, 3, 4
  int blocks;                   // BasicBlocks per branch in stages 2-4
  std::vector<int64_t> widths;  // branch widths (stage 4 has all four)
};

HRNetConfig ConfigFor(const std::string& name) {
  auto standard = [](int64_t w) { return HRNetConfig{4, 64, {1, 4, 3}, 4, {w, 2 * w, 4 * w, 8 * w}}; };
  if (name == "hrnet_w18_small") return HRNetConfig{1, 32, {1, 1, 1}, 2, {16, 32, 64, 128}};
  if (name == "hrnet_w18_small_v2") return HRNetConfig{2, 64, {1, 3, 2}, 2, {18, 36, 72, 144}};
  for (int64_t w : {18, 30, 32, 40, 44, 48, 64}) {
    if (name == "hrnet_w" + std::to_string(w)) return standard(w);
  }
  throw Error(Status::ModelError("HRNet variant '" + name +
                                 "' is not supported (hrnet_w18, hrnet_w32, hrnet_w48, hrnet_w30, hrnet_w40, "
                                 "hrnet_w44, hrnet_w64, hrnet_w18_small, hrnet_w18_small_v2)"));
}

// A conv + batch norm pair, optionally followed by ReLU (timm's nn.Sequential(conv, bn[, relu])).
struct ConvBN {
  Conv2d conv;
  Norm2d bn;
  bool relu = false;
  ConvBN() = default;
  ConvBN(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride, bool relu_)
      : conv(p, prefix + "0.", in, out, k, stride, k / 2), bn(p, prefix + "1.", out, kBN), relu(relu_) {}
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = bn(conv(x));
    return relu ? y.relu_() : y;
  }
};

// timm's resnet BasicBlock (3x3, 3x3, identity shortcut: HRNet branches never change width).
struct BasicBlock {
  Conv2d conv1, conv2;
  Norm2d bn1, bn2;
  BasicBlock(ParamSet& p, const std::string& prefix, int64_t c)
      : conv1(p, prefix + "conv1.", c, c, 3, 1, 1),
        conv2(p, prefix + "conv2.", c, c, 3, 1, 1),
        bn1(p, prefix + "bn1.", c, kBN),
        bn2(p, prefix + "bn2.", c, kBN) {}
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = bn1(conv1(x));
    y.relu_();
    y = bn2(conv2(y));
    return y.add_(x).relu_();
  }
};

// timm's resnet Bottleneck (1x1, 3x3, 1x1 x4), with a conv+bn shortcut when the width changes.
struct Bottleneck {
  Conv2d conv1, conv2, conv3;
  Norm2d bn1, bn2, bn3;
  bool has_down = false;
  ConvBN down;
  Bottleneck(ParamSet& p, const std::string& prefix, int64_t in, int64_t planes)
      : conv1(p, prefix + "conv1.", in, planes, 1),
        conv2(p, prefix + "conv2.", planes, planes, 3, 1, 1),
        conv3(p, prefix + "conv3.", planes, planes * 4, 1),
        bn1(p, prefix + "bn1.", planes, kBN),
        bn2(p, prefix + "bn2.", planes, kBN),
        bn3(p, prefix + "bn3.", planes * 4, kBN) {
    if (in != planes * 4) {
      has_down = true;
      down = ConvBN(p, prefix + "downsample.", in, planes * 4, 1, 1, /*relu=*/false);
    }
  }
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = bn1(conv1(x));
    y.relu_();
    y = bn2(conv2(y));
    y.relu_();
    y = bn3(conv3(y));
    return y.add_(has_down ? down(x) : x).relu_();
  }
};

// How fuse layer (i, j) brings branch j to branch i's resolution and width.
struct FuseStep {
  enum class Kind { kIdentity, kUp, kDown } kind = Kind::kIdentity;
  ConvBN up;  // j > i: 1x1 conv + bn, then nearest upsampling by 2^(j-i)
  double scale = 1;
  std::vector<ConvBN> down;  // j < i: (i-j) stride-2 3x3 conv + bn, ReLU between them
  at::Tensor operator()(const at::Tensor& x) const {
    if (kind == Kind::kIdentity) return x;
    if (kind == Kind::kUp) {
      // nn.Upsample(scale_factor=s, mode="nearest"): the output size and source indices come
      // from the scale factor, as in timm.
      return at::upsample_nearest2d(up(x), c10::nullopt, std::vector<double>{scale, scale});
    }
    at::Tensor y = x;
    for (const auto& d : down) y = d(y);
    return y;
  }
};

// timm's HighResolutionModule: BasicBlock branches, then every output branch sums all inputs
// brought to its resolution (in branch order, as timm does), then ReLU.
class HighResolutionModule {
 public:
  HighResolutionModule(ParamSet& p, const std::string& prefix, const std::vector<int64_t>& widths, int blocks) {
    const size_t n = widths.size();
    branches_.resize(n);
    for (size_t b = 0; b < n; ++b)
      for (int k = 0; k < blocks; ++k)
        branches_[b].emplace_back(p, prefix + "branches." + std::to_string(b) + "." + std::to_string(k) + ".",
                                  widths[b]);
    if (n == 1) return;  // timm: fuse_layers is an Identity
    fuse_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        const std::string fp = prefix + "fuse_layers." + std::to_string(i) + "." + std::to_string(j) + ".";
        FuseStep f;
        if (j > i) {
          f.kind = FuseStep::Kind::kUp;
          f.up = ConvBN(p, fp, widths[j], widths[i], 1, 1, /*relu=*/false);
          f.scale = static_cast<double>(int64_t{1} << (j - i));
        } else if (j < i) {
          f.kind = FuseStep::Kind::kDown;
          for (size_t k = 0; k < i - j; ++k) {
            const bool last = k + 1 == i - j;
            f.down.emplace_back(p, fp + std::to_string(k) + ".", widths[j], last ? widths[i] : widths[j], 3, 2,
                                /*relu=*/!last);
          }
        }
        fuse_[i].push_back(std::move(f));
      }
    }
  }

  std::vector<at::Tensor> Forward(std::vector<at::Tensor> x) const {
    for (size_t b = 0; b < branches_.size(); ++b)
      for (const auto& blk : branches_[b]) x[b] = blk(x[b]);
    if (fuse_.empty()) return x;
    std::vector<at::Tensor> out;
    for (const auto& row : fuse_) {
      at::Tensor y = row[0](x[0]);
      bool owned = row[0].kind != FuseStep::Kind::kIdentity;  // y may alias an input
      for (size_t j = 1; j < row.size(); ++j) {
        at::Tensor t = row[j](x[j]);
        if (owned) {
          y.add_(t);
        } else {
          y = y + t;
          owned = true;
        }
      }
      out.push_back(y.relu_());
    }
    return out;
  }

 private:
  std::vector<std::vector<BasicBlock>> branches_;
  std::vector<std::vector<FuseStep>> fuse_;
};

// timm's transition layer into a stage: existing branches pass through (or get a 3x3 conv
// when the width changes), new branches are made from the last one by stride-2 3x3 convs.
struct Transition {
  std::vector<bool> present;  // false: nn.Identity (pass the previous branch through)
  std::vector<std::vector<ConvBN>> convs;

  Transition(ParamSet& p, const std::string& prefix, const std::vector<int64_t>& pre, const std::vector<int64_t>& cur) {
    for (size_t i = 0; i < cur.size(); ++i) {
      const std::string tp = prefix + std::to_string(i) + ".";
      std::vector<ConvBN> seq;
      if (i < pre.size()) {
        if (cur[i] != pre[i]) {
          // nn.Sequential(conv, bn, relu) directly: names transitionN.i.0 / .1
          seq.emplace_back(p, tp, pre[i], cur[i], 3, 1, /*relu=*/true);
        }
      } else {
        for (size_t j = 0; j < i + 1 - pre.size(); ++j) {
          const int64_t in = pre.back(), out = j == i - pre.size() ? cur[i] : in;
          seq.emplace_back(p, tp + std::to_string(j) + ".", in, out, 3, 2, /*relu=*/true);
        }
      }
      present.push_back(!seq.empty());
      convs.push_back(std::move(seq));
    }
  }

  // timm's stages(): a non-identity transition takes the *last* previous branch (for the
  // first transition there is only one: layer1's output).
  std::vector<at::Tensor> Forward(const std::vector<at::Tensor>& prev) const {
    std::vector<at::Tensor> out;
    for (size_t i = 0; i < convs.size(); ++i) {
      if (!present[i]) {
        out.push_back(prev[i]);
        continue;
      }
      at::Tensor y = prev.back();
      for (const auto& c : convs[i]) y = c(y);
      out.push_back(y);
    }
    return out;
  }
};

class HRNet : public Backbone {
 public:
  HRNet(const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
    name_ = cfg["model_name"] ? cfg["model_name"].as<std::string>() : "hrnet_w32";
    // timm also accepts pretrained tags ("hrnet_w32.ms_in1k"): the architecture is the same.
    const std::string arch = name_.substr(0, name_.find('.'));
    const HRNetConfig c = ConfigFor(arch);
    interpolate_ = cfg["interpolate_branches"] && cfg["interpolate_branches"].as<bool>();
    incre_ = cfg["increased_channel_count"] && cfg["increased_channel_count"].as<bool>();
    if (cfg["stride"] && cfg["stride"].as<int64_t>() != 4) {
      throw Error(Status::ModelError("HRNet backbone: stride " + cfg["stride"].as<std::string>() +
                                     " is not supported (timm's HRNet features have stride 4)"));
    }
    const std::string m = prefix + "model.";
    stem_conv1_ = Conv2d(p, m + "conv1.", 3, 64, 3, 2, 1);
    stem_bn1_ = Norm2d(p, m + "bn1.", 64, kBN);
    stem_conv2_ = Conv2d(p, m + "conv2.", 64, 64, 3, 2, 1);
    stem_bn2_ = Norm2d(p, m + "bn2.", 64, kBN);
    int64_t in = 64;
    for (int b = 0; b < c.stage1_blocks; ++b) {
      layer1_.emplace_back(p, m + "layer1." + std::to_string(b) + ".", in, c.stage1_channels);
      in = c.stage1_channels * 4;
    }
    std::vector<int64_t> pre = {in};
    for (int s = 0; s < 3; ++s) {  // stages 2, 3, 4 with 2, 3, 4 branches
      const std::vector<int64_t> cur(c.widths.begin(), c.widths.begin() + s + 2);
      transitions_.emplace_back(p, m + "transition" + std::to_string(s + 1) + ".", pre, cur);
      std::vector<HighResolutionModule> stage;
      for (int k = 0; k < c.modules[s]; ++k) {
        stage.emplace_back(p, m + "stage" + std::to_string(s + 2) + "." + std::to_string(k) + ".", cur, c.blocks);
      }
      stages_.push_back(std::move(stage));
      pre = cur;
    }
    std::vector<int64_t> feature_channels = c.widths;
    if (incre_) {
      // timm's _make_head(incre_only=True): one Bottleneck per branch, 32/64/128/256 planes.
      const int64_t head_planes[] = {32, 64, 128, 256};
      for (size_t b = 0; b < 4; ++b) {
        incre_modules_.emplace_back(p, m + "incre_modules." + std::to_string(b) + ".0.", c.widths[b], head_planes[b]);
        feature_channels[b] = head_planes[b] * 4;
      }
    }
    out_channels_ = feature_channels[0];
    if (interpolate_)
      out_channels_ = feature_channels[0] + feature_channels[1] + feature_channels[2] + feature_channels[3];
  }

  at::Tensor Forward(const at::Tensor& x) const override {
    at::Tensor y = stem_bn1_(stem_conv1_(x));
    y.relu_();
    y = stem_bn2_(stem_conv2_(y));
    y.relu_();
    for (const auto& b : layer1_) y = b(y);
    std::vector<at::Tensor> branches = {y};
    for (size_t s = 0; s < stages_.size(); ++s) {
      branches = transitions_[s].Forward(branches);
      for (const auto& module : stages_[s]) branches = module.Forward(std::move(branches));
    }
    // timm applies every incre module; DeepLabCut uses branch 0 unless it interpolates.
    const size_t used = interpolate_ ? branches.size() : 1;
    if (incre_)
      for (size_t b = 0; b < used; ++b) branches[b] = incre_modules_[b](branches[b]);
    if (!interpolate_) return branches[0];
    const int64_t h = branches[0].size(2), w = branches[0].size(3);
    std::vector<at::Tensor> parts = {branches[0]};
    for (size_t b = 1; b < branches.size(); ++b) {
      // F.interpolate(size=(h, w), mode="bilinear"): align_corners=False, scales from sizes.
      parts.push_back(at::upsample_bilinear2d(branches[b], {h, w}, /*align_corners=*/false));
    }
    return at::cat(parts, 1);
  }

  int64_t stride() const override { return 4; }
  int64_t out_channels() const override { return out_channels_; }
  std::string Describe() const override {
    std::string d = name_ + " (stride 4, ";
    d += interpolate_ ? "all branches interpolated and concatenated" : "high-resolution branch";
    if (incre_) d += ", increased channel count";
    return d + ")";
  }

 private:
  std::string name_;
  bool interpolate_ = false, incre_ = false;
  int64_t out_channels_ = 0;
  Conv2d stem_conv1_, stem_conv2_;
  Norm2d stem_bn1_, stem_bn2_;
  std::vector<Bottleneck> layer1_;
  std::vector<Transition> transitions_;
  std::vector<std::vector<HighResolutionModule>> stages_;
  std::vector<Bottleneck> incre_modules_;
};

}  // namespace

void RegisterHRNet() {
  BackboneRegistry()["HRNet"] = [](const YAML::Node& cfg, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Backbone>(new HRNet(cfg, p, prefix));
  };
}

}  // namespace posebatch::native
