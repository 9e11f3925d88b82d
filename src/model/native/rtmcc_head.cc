// DeepLabCut's RTMCCHead (models/heads/rtmcc_head.py, RTMPose's coordinate-classification
// head): a KxK conv to one map per keypoint, each flattened into a token, ScaleNorm + linear to
// hidden_dims, one gated attention unit (modules/gated_attention_unit.py, self-attention, no
// relative-position bias or rotary encoding), then two linear classifiers over
// input_size * simcc_split_ratio bins: outputs "x" (B, K, Wx) and "y" (B, K, Wy).
#include <ATen/ATen.h>

#include <cmath>

#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

// ScaleNorm: x / clamp(||x|| * dim^-0.5, eps) * g, over the last dimension.
struct ScaleNorm {
  ScaleNorm() = default;
  ScaleNorm(ParamSet& p, const std::string& prefix, int64_t dim_, double eps_) : dim(dim_), eps(eps_) {
    g = p.Add(prefix + "g", {1});
  }
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor norm = at::linalg_vector_norm(x, 2, {-1}, /*keepdim=*/true) * std::pow(static_cast<double>(dim), -0.5);
    return x / norm.clamp_min(eps) * *g;
  }
  int64_t dim = 1;
  double eps = 1e-5;
  std::shared_ptr<at::Tensor> g;
};

template <typename T>
T Get(const YAML::Node& n, const char* key, const std::string& where) {
  if (!n[key]) throw Error(Status::ModelError("RTMCCHead config has no " + where + key));
  return n[key].as<T>();
}

class RTMCCHead : public Head {
 public:
  RTMCCHead(const YAML::Node& cfg, int64_t in_channels, ParamSet& p, const std::string& prefix) {
    const int64_t cfg_in = Get<int64_t>(cfg, "in_channels", "");
    if (cfg_in != in_channels) {
      throw Error(Status::ModelError("RTMCCHead in_channels " + std::to_string(cfg_in) + " but the backbone gives " +
                                     std::to_string(in_channels)));
    }
    const int64_t k = Get<int64_t>(cfg, "out_channels", "");
    const auto input = Get<std::vector<int64_t>>(cfg, "input_size", "");
    const auto fmap = Get<std::vector<int64_t>>(cfg, "in_featuremap_size", "");
    const double split = Get<double>(cfg, "simcc_split_ratio", "");
    const int64_t ks = Get<int64_t>(cfg, "final_layer_kernel_size", "");
    const YAML::Node gau = cfg["gau_cfg"];
    if (!gau || input.size() != 2 || fmap.size() != 2) throw Error(Status::ModelError("RTMCCHead config incomplete"));
    hidden_ = Get<int64_t>(gau, "hidden_dims", "gau_cfg.");
    s_ = Get<int64_t>(gau, "s", "gau_cfg.");
    e_ = static_cast<int64_t>(hidden_ * Get<double>(gau, "expansion_factor", "gau_cfg."));
    const std::string act = gau["act_fn"] ? gau["act_fn"].as<std::string>() : "SiLU";
    if (act != "SiLU" && act != "ReLU") throw Error(Status::ModelError("RTMCCHead act_fn '" + act + "' unknown"));
    silu_ = act == "SiLU";
    if (gau["use_rel_bias"] && gau["use_rel_bias"].as<bool>()) {
      throw Error(Status::ModelError("RTMCCHead gau_cfg.use_rel_bias is not built natively"));
    }
    if (gau["pos_enc"] && gau["pos_enc"].as<bool>()) {
      throw Error(Status::ModelError("RTMCCHead gau_cfg.pos_enc is not built natively"));
    }
    padding_ = ks / 2;
    final_w_ = p.Add(prefix + "final_layer.weight", {k, in_channels, ks, ks});
    final_b_ = p.Add(prefix + "final_layer.bias", {k});
    const int64_t flat = fmap[0] * fmap[1];
    mlp_norm_ = ScaleNorm(p, prefix + "mlp.0.", flat, 1e-5);
    mlp_w_ = p.Add(prefix + "mlp.1.weight", {hidden_, flat});
    ln_ = ScaleNorm(p, prefix + "gau.ln.", hidden_, 1e-5);
    uv_w_ = p.Add(prefix + "gau.uv.weight", {2 * e_ + s_, hidden_});
    gamma_ = p.Add(prefix + "gau.gamma", {2, s_});
    beta_ = p.Add(prefix + "gau.beta", {2, s_});
    o_w_ = p.Add(prefix + "gau.o.weight", {hidden_, e_});
    res_scale_ = p.Add(prefix + "gau.res_scale.scale", {hidden_});
    // out_w = int(input_size[0] * split), out_h = int(input_size[1] * split).
    cls_x_ = p.Add(prefix + "cls_x.weight", {static_cast<int64_t>(input[0] * split), hidden_});
    cls_y_ = p.Add(prefix + "cls_y.weight", {static_cast<int64_t>(input[1] * split), hidden_});
  }

  std::map<std::string, at::Tensor> Forward(const at::Tensor& features) const override {
    at::Tensor f = at::conv2d(features, *final_w_, *final_b_, {1, 1}, {padding_, padding_});
    f = at::flatten(f, 2);                  // (B, K, H*W)
    f = at::linear(mlp_norm_(f), *mlp_w_);  // (B, K, hidden)
    // Gated attention unit with its scaled residual.
    at::Tensor uv = at::linear(ln_(f), *uv_w_);
    uv = silu_ ? at::silu(uv) : at::relu(uv);
    auto parts = at::split_with_sizes(uv, {e_, e_, s_}, 2);
    at::Tensor base = parts[2].unsqueeze(2) * gamma_->unsqueeze(0).unsqueeze(0) + *beta_;  // (B, K, 2, s)
    at::Tensor q = base.select(2, 0), k = base.select(2, 1);
    at::Tensor qk = at::bmm(q, k.permute({0, 2, 1}));
    at::Tensor kernel = at::square(at::relu(qk / std::sqrt(static_cast<double>(s_))));
    at::Tensor x = parts[0] * at::bmm(kernel, parts[1]);
    at::Tensor out = f * *res_scale_ + at::linear(x, *o_w_);
    return {{"x", at::linear(out, *cls_x_)}, {"y", at::linear(out, *cls_y_)}};
  }

 private:
  int64_t hidden_ = 0, s_ = 0, e_ = 0, padding_ = 0;
  bool silu_ = true;
  std::shared_ptr<at::Tensor> final_w_, final_b_, mlp_w_, uv_w_, gamma_, beta_, o_w_, res_scale_, cls_x_, cls_y_;
  ScaleNorm mlp_norm_, ln_;
};

}  // namespace

void RegisterRTMCCHead() {
  HeadRegistry()["RTMCCHead"] = [](const YAML::Node& cfg, int64_t in, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Head>(new RTMCCHead(cfg, in, p, prefix));
  };
}

}  // namespace posebatch::native
