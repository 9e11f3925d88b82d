#include "model/native/mobilenet_v3.h"

#include "posebatch/status.h"

namespace posebatch::native {
namespace {

// torchvision's _make_divisible(v, 8): round to a multiple of 8, never more than 10% down.
int64_t MakeDivisible(double v, int64_t divisor = 8) {
  int64_t r = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

// One row of torchvision's mobilenet_v3_large inverted_residual_setting.
struct BlockConfig {
  int64_t in, kernel, expanded, out;
  bool se, hardswish;
  int64_t stride;
  bool c4;  // layers 13..15: halved by reduced_tail, dilated by `dilated`
};

// clang-format off
constexpr BlockConfig kLarge[] = {
    // in, k, expanded, out, SE, Hardswish, stride, C4
    {16, 3, 16, 16, false, false, 1, false},
    {16, 3, 64, 24, false, false, 2, false},
    {24, 3, 72, 24, false, false, 1, false},
    {24, 5, 72, 40, true, false, 2, false},
    {40, 5, 120, 40, true, false, 1, false},
    {40, 5, 120, 40, true, false, 1, false},
    {40, 3, 240, 80, false, true, 2, false},
    {80, 3, 200, 80, false, true, 1, false},
    {80, 3, 184, 80, false, true, 1, false},
    {80, 3, 184, 80, false, true, 1, false},
    {80, 3, 480, 112, true, true, 1, false},
    {112, 3, 672, 112, true, true, 1, false},
    {112, 5, 672, 160, true, true, 2, true},
    {160, 5, 960, 160, true, true, 1, true},
    {160, 5, 960, 160, true, true, 1, true},
};
// clang-format on

}  // namespace

MobileNetV3Namer TorchvisionMobileNetV3Namer(const std::string& prefix) {
  return [prefix](int layer, int sub) {
    std::string p = prefix + std::to_string(layer) + ".";
    return sub < 0 ? p : p + "block." + std::to_string(sub) + ".";
  };
}

MobileNetV3Namer SsdliteMobileNetV3Namer(const std::string& prefix) {
  return [p = prefix + "features."](int layer, int sub) -> std::string {
    if (layer == 0) return p + "0.0.";
    if (layer < 13) return p + "0." + std::to_string(layer) + ".block." + std::to_string(sub) + ".";
    if (layer == 13) return sub == 0 ? p + "0.13." : p + "1.0." + std::to_string(sub) + ".";
    if (layer < 16) return p + "1." + std::to_string(layer - 13) + ".block." + std::to_string(sub) + ".";
    return p + "1.3.";
  };
}

ConvNormAct::ConvNormAct(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride,
                         int64_t groups, int64_t dilation, Act a, Norm2d::Kind kind, double eps)
    : conv(p, prefix + "0.", in, out, k, stride, (k - 1) / 2 * dilation, dilation, /*bias=*/false, groups),
      norm(p, prefix + "1.", out, kind, /*groups=*/32, eps),
      act(a) {}

at::Tensor ConvNormAct::operator()(const at::Tensor& x) const {
  at::Tensor y = norm(conv(x));
  switch (act) {
    case Act::kNone:
      return y;
    case Act::kReLU:
      return y.relu_();
    case Act::kReLU6:
      return at::hardtanh_(y, 0.0, 6.0);
    case Act::kHardswish:
      return at::hardswish_(y);
  }
  return y;
}

at::Tensor MobileNetV3Large::SqueezeExcitation::operator()(const at::Tensor& x) const {
  at::Tensor s = fc1(at::adaptive_avg_pool2d(x, {1, 1}));
  s.relu_();
  s = fc2(s);
  at::hardsigmoid_(s);
  return s * x;
}

at::Tensor MobileNetV3Large::Block::AfterExpand(const at::Tensor& expanded_x, const at::Tensor& input) const {
  at::Tensor y = depthwise(expanded_x);
  if (has_se) y = se(y);
  y = project(y);
  if (residual) y.add_(input);
  return y;
}

at::Tensor MobileNetV3Large::Block::operator()(const at::Tensor& x) const {
  return AfterExpand(has_expand ? expand(x) : x, x);
}

MobileNetV3Large::MobileNetV3Large(ParamSet& p, const MobileNetV3Namer& names, const MobileNetV3Options& o) {
  using Act = ConvNormAct::Act;
  const int64_t divider = o.reduced_tail ? 2 : 1;
  stem_ = ConvNormAct(p, names(0, -1), 3, 16, 3, 2, 1, 1, Act::kHardswish, o.norm, o.eps);
  for (int i = 0; i < 15; ++i) {
    const BlockConfig& c = kLarge[i];
    Block b;
    // Layer 13's input is layer 12's output (112), untouched by reduced_tail.
    b.in = MakeDivisible(c.c4 && i > 12 ? c.in / divider : c.in);
    b.expanded = MakeDivisible(c.c4 && i > 12 ? c.expanded / divider : c.expanded);
    b.out = MakeDivisible(c.c4 ? c.out / divider : c.out);
    const int64_t dilation = c.c4 && o.dilated ? 2 : 1;
    const int64_t stride = dilation > 1 ? 1 : c.stride;
    const Act act = c.hardswish ? Act::kHardswish : Act::kReLU;
    const int layer = i + 1;
    int sub = 0;
    b.has_expand = b.expanded != b.in;
    if (b.has_expand) b.expand = ConvNormAct(p, names(layer, sub++), b.in, b.expanded, 1, 1, 1, 1, act, o.norm, o.eps);
    b.depthwise = ConvNormAct(p, names(layer, sub++), b.expanded, b.expanded, c.kernel, stride, b.expanded, dilation,
                              act, o.norm, o.eps);
    b.has_se = c.se;
    if (b.has_se) {
      const std::string se = names(layer, sub++);
      const int64_t squeeze = MakeDivisible(static_cast<double>(b.expanded / 4));
      b.se.fc1 = Conv2d(p, se + "fc1.", b.expanded, squeeze, 1, 1, 0, 1, /*bias=*/true);
      b.se.fc2 = Conv2d(p, se + "fc2.", squeeze, b.expanded, 1, 1, 0, 1, /*bias=*/true);
    }
    b.project = ConvNormAct(p, names(layer, sub++), b.expanded, b.out, 1, 1, 1, 1, Act::kNone, o.norm, o.eps);
    b.residual = c.stride == 1 && b.in == b.out;
    blocks_.push_back(std::move(b));
  }
  const int64_t tail_in = blocks_.back().out;
  last_ = ConvNormAct(p, names(16, -1), tail_in, 6 * tail_in, 1, 1, 1, 1, Act::kHardswish, o.norm, o.eps);
}

const MobileNetV3Large::Block& MobileNetV3Large::block(int layer) const {
  if (layer < 1 || layer > 15) {
    throw Error(Status::Internal("MobileNetV3: layer " + std::to_string(layer) + " is not an inverted residual"));
  }
  return blocks_[layer - 1];
}

at::Tensor MobileNetV3Large::Run(const at::Tensor& x, int begin, int end) const {
  if (begin < 0 || end > kNumLayers || begin > end) {
    throw Error(
        Status::Internal("MobileNetV3: bad layer range [" + std::to_string(begin) + ", " + std::to_string(end) + ")"));
  }
  at::Tensor y = x;
  for (int layer = begin; layer < end; ++layer) {
    if (layer == 0)
      y = stem_(y);
    else if (layer == 16)
      y = last_(y);
    else
      y = blocks_[layer - 1](y);
  }
  return y;
}

at::Tensor MobileNetV3Large::Expand(const at::Tensor& x, int layer) const {
  const Block& b = block(layer);
  if (!b.has_expand || b.residual) {
    throw Error(Status::Internal("MobileNetV3: layer " + std::to_string(layer) + " cannot be split at its expansion"));
  }
  return b.expand(x);
}

at::Tensor MobileNetV3Large::FinishExpanded(const at::Tensor& expanded, int layer) const {
  const Block& b = block(layer);
  if (!b.has_expand || b.residual) {
    throw Error(Status::Internal("MobileNetV3: layer " + std::to_string(layer) + " cannot be split at its expansion"));
  }
  return b.AfterExpand(expanded, at::Tensor());
}

int64_t MobileNetV3Large::out_channels(int layer) const {
  if (layer == 0) return 16;
  if (layer == 16) return 6 * blocks_.back().out;
  return block(layer).out;
}

int64_t MobileNetV3Large::expanded_channels(int layer) const { return block(layer).expanded; }

}  // namespace posebatch::native
