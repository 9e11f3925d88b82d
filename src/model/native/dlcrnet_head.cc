// DeepLabCut's DLCRNetHead (heads/dlcrnet.py), the multi-animal PAF head. With num_stages > 0:
// four stride-2 transposed convolutions (padding 1, output padding 1: exactly 2x the feature
// map) give a first heatmap, locref features, a first PAF and 128 features; num_stages
// refinement convolutions (3x3, "same") each read [heatmap, paf, features] and rewrite the
// heatmap (with a residual from the second stage on) and the PAF; the heatmap and PAF
// DeconvModules then read the last stage, the locref one its own features. The head's stride
// is therefore half the backbone's, halved again by the DeconvModules. With num_stages == 0
// the three DeconvModules read the backbone features directly (the unused layers still
// exist, and their weights are still loaded).
#include <yaml-cpp/yaml.h>

#include "model/native/deconv_module.h"
#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

int64_t LastChannel(const YAML::Node& cfg, const std::string& what) {
  const YAML::Node ch = cfg["channels"];
  if (!ch || !ch.IsSequence() || ch.size() < 1) throw Error(Status::ModelError(what + ": missing channels"));
  return ch[ch.size() - 1].as<int64_t>();
}

// DeepLabCut rewrites channels[0] of the module configs before building them.
YAML::Node WithInputChannels(const YAML::Node& cfg, int64_t in) {
  YAML::Node copy = YAML::Clone(cfg);
  copy["channels"][0] = in;
  return copy;
}

class DLCRNetHead : public Head {
 public:
  DLCRNetHead(const YAML::Node& cfg, int64_t in_channels, ParamSet& p, const std::string& prefix)
      : num_stages_(cfg["num_stages"] ? cfg["num_stages"].as<int64_t>() : 5),
        features_dim_(cfg["features_dim"] ? cfg["features_dim"].as<int64_t>() : 128),
        num_keypoints_(LastChannel(cfg["heatmap_config"], prefix + "heatmap_config")),
        locref_channels_(LastChannel(cfg["locref_config"], prefix + "locref_config")),
        num_limbs_(LastChannel(cfg["paf_config"], prefix + "paf_config")) {
    if (num_stages_ < 0) throw Error(Status::ModelError(prefix + ": num_stages must not be negative"));
    const int64_t refined = features_dim_ + num_keypoints_ + num_limbs_;
    const bool staged = num_stages_ > 0;
    const int64_t hm_in = staged ? refined : in_channels, loc_in = staged ? locref_channels_ : in_channels;
    heatmap_ = std::make_unique<DeconvModule>(WithInputChannels(cfg["heatmap_config"], hm_in), hm_in, p,
                                              prefix + "heatmap_head.");
    locref_ = std::make_unique<DeconvModule>(WithInputChannels(cfg["locref_config"], loc_in), loc_in, p,
                                             prefix + "locref_head.");
    paf_ = std::make_unique<DeconvModule>(WithInputChannels(cfg["paf_config"], hm_in), hm_in, p, prefix + "paf_head.");
    const int64_t stage1_out[4] = {num_keypoints_, locref_channels_, num_limbs_, features_dim_};
    for (int i = 0; i < 4; ++i) {
      stage1_[i] = ConvTranspose2d(p, prefix + "convt" + std::to_string(i + 1) + ".", in_channels, stage1_out[i], 3, 2,
                                   /*padding=*/1, /*output_padding=*/1);
    }
    for (int64_t s = 0; s < num_stages_; ++s) {
      const std::string n = std::to_string(s);
      hm_refine_.emplace_back(p, prefix + "hm_ref_layers." + n + ".", refined, num_keypoints_, 3, 1, 1, 1, true);
      paf_refine_.emplace_back(p, prefix + "paf_ref_layers." + n + ".", refined, num_limbs_, 3, 1, 1, 1, true);
    }
  }

  void Prepare() override {
    heatmap_->Prepare();
    locref_->Prepare();
    paf_->Prepare();
    // The four first-stage transposed convolutions read the same input: run them as one.
    fused_stage1_ = stage1_[0];
    std::vector<at::Tensor> weights, biases;
    for (const auto& c : stage1_) {
      weights.push_back(*c.weight);
      biases.push_back(*c.bias);
    }
    fused_stage1_.weight = std::make_shared<at::Tensor>(at::cat(weights, 1));
    fused_stage1_.bias = std::make_shared<at::Tensor>(at::cat(biases, 0));
    fused_stage1_.Prepare();
  }

  std::map<std::string, at::Tensor> Forward(const at::Tensor& x) const override {
    std::map<std::string, at::Tensor> out;
    if (num_stages_ == 0) {
      out["heatmap"] = heatmap_->Forward(x);
      out["locref"] = locref_->Forward(x);
      out["paf"] = paf_->Forward(x);
      return out;
    }
    const at::Tensor stage1 = fused_stage1_(x);
    int64_t offset = 0;
    auto take = [&](int64_t n) {
      at::Tensor t = stage1.narrow(1, offset, n);
      offset += n;
      return t;
    };
    at::Tensor hm = take(num_keypoints_);
    const at::Tensor locref_features = take(locref_channels_);
    at::Tensor paf = take(num_limbs_);
    const at::Tensor features = take(features_dim_);
    at::Tensor stage_in = at::cat({hm, paf, features}, 1);
    for (int64_t s = 0; s < num_stages_; ++s) {
      at::Tensor next_hm = hm_refine_[s](stage_in);
      if (s > 0) next_hm = next_hm + hm;
      hm = next_hm;
      paf = paf_refine_[s](stage_in);
      stage_in = at::cat({hm, paf, features}, 1);
    }
    out["heatmap"] = heatmap_->Forward(stage_in);
    out["locref"] = locref_->Forward(locref_features);
    out["paf"] = paf_->Forward(stage_in);
    return out;
  }

 private:
  int64_t num_stages_, features_dim_, num_keypoints_, locref_channels_, num_limbs_;
  std::unique_ptr<DeconvModule> heatmap_, locref_, paf_;
  ConvTranspose2d stage1_[4];  // convt1..4: heatmap, locref features, PAF, features
  ConvTranspose2d fused_stage1_;
  std::vector<Conv2d> hm_refine_, paf_refine_;
};

}  // namespace

void RegisterDLCRNetHead() {
  HeadRegistry()["DLCRNetHead"] = [](const YAML::Node& cfg, int64_t in, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Head>(new DLCRNetHead(cfg, in, p, prefix));
  };
}

}  // namespace posebatch::native
