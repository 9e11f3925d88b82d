#include "model/native/layers.h"

#include <sstream>

#include "model/native/group_norm_bf16.h"
#include "model/native/int8_conv.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

std::string Shape(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

std::string FirstFew(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

}  // namespace

// PyTorch 1.13 sends batch-1 convolutions with small inputs (<= 20480 values, kernels up to
// 3x3) to its native im2col + BLAS path, which on Debian is the reference BLAS: HRNet's
// stride-32 branch (256 x 8 x 10 at 320x256) made a batch of 1 four times slower per frame
// than a batch of 2. oneDNN computes every float32 (and bfloat16) CPU convolution here, whatever its size.
namespace {
thread_local bool torch_convolution = false;         // see ScopedTorchConvolution
thread_local ScopedFlopCount* flop_count = nullptr;  // see ScopedFlopCount

// 2 x multiply-adds of a convolution of x (N, C, H, W) with w (O, C/groups, kh, kw).
double ConvolutionFlops(const at::Tensor& x, const at::Tensor& w, at::IntArrayRef stride, at::IntArrayRef padding,
                        at::IntArrayRef dilation) {
  double outputs = static_cast<double>(x.size(0)) * w.size(0);
  for (int d = 0; d < 2; ++d) {
    const int64_t s = stride.size() > 1 ? stride[d] : stride[0];
    const int64_t p = padding.size() > 1 ? padding[d] : padding[0];
    const int64_t di = dilation.size() > 1 ? dilation[d] : dilation[0];
    outputs *= (x.size(2 + d) + 2 * p - di * (w.size(2 + d) - 1) - 1) / s + 1;
  }
  return 2.0 * outputs * w.size(1) * w.size(2) * w.size(3);
}
}  // namespace

ScopedFlopCount::ScopedFlopCount() : previous_(flop_count) { flop_count = this; }
ScopedFlopCount::~ScopedFlopCount() { flop_count = previous_; }

at::Tensor Convolve(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::IntArrayRef stride,
                    at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  if (flop_count != nullptr && x.dim() == 4) flop_count->Add(ConvolutionFlops(x, w, stride, padding, dilation));
  if (!torch_convolution && x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) &&
      x.dim() == 4 && at::hasMKLDNN() && at::globalContext().userEnabledMkldnn()) {
    return at::mkldnn_convolution(x, w, b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt, padding, stride,
                                  dilation, groups);
  }
  return at::conv2d(x, w, b, stride, padding, dilation, groups);
}

ScopedTorchConvolution::ScopedTorchConvolution() : previous_(torch_convolution) { torch_convolution = true; }
ScopedTorchConvolution::~ScopedTorchConvolution() { torch_convolution = previous_; }

std::shared_ptr<at::Tensor> ParamSet::Add(const std::string& name, std::vector<int64_t> shape) {
  auto t = std::make_shared<at::Tensor>();
  if (slots_.count(name)) throw Error(Status::Internal("parameter registered twice: " + name));
  slots_[name] = Slot{std::move(shape), t};
  order_.push_back(name);
  return t;
}

std::vector<std::shared_ptr<Int8Convolution>> ParamSet::Convolutions(const std::string& prefix) const {
  std::vector<std::shared_ptr<Int8Convolution>> out;
  for (const auto& [name, conv] : convolutions_) {
    if (name.compare(0, prefix.size(), prefix) == 0) out.push_back(conv);
  }
  return out;
}

void ParamSet::AddConvolution(const std::string& name, std::shared_ptr<Int8Convolution> conv) {
  convolutions_.emplace_back(name, std::move(conv));
}

void ParamSet::Load(StateDict& sd, const std::string& origin, bool channels_last) {
  std::vector<std::string> missing, unexpected, wrong;
  for (const auto& name : order_) {
    if (!sd.count(name)) missing.push_back(name);
  }
  for (const auto& kv : sd) {
    if (!slots_.count(kv.first)) unexpected.push_back(kv.first);
  }
  if (!missing.empty() || !unexpected.empty()) {
    std::string msg = origin + ": weights do not match the architecture the config describes";
    if (!missing.empty()) msg += "; missing: " + FirstFew(missing);
    if (!unexpected.empty()) msg += "; unexpected: " + FirstFew(unexpected);
    throw Error(Status::ModelError(msg));
  }
  for (const auto& name : order_) {
    Slot& slot = slots_[name];
    at::Tensor t = sd[name];
    std::vector<int64_t> got(t.sizes().begin(), t.sizes().end());
    if (got != slot.shape) wrong.push_back(name + " is " + Shape(got) + ", expected " + Shape(slot.shape));
  }
  if (!wrong.empty()) throw Error(Status::ModelError(origin + ": tensor shapes differ: " + FirstFew(wrong)));
  for (const auto& name : order_) {
    at::Tensor t = std::move(sd[name]);
    // Weights view the file mapping; contiguous() / to() copy only when they must (one copy
    // for float16 files, none for float32 ones).
    if (at::isFloatingType(t.scalar_type())) t = t.to(at::kFloat);
    // Channels-last kernels, like the activations: oneDNN then runs every convolution
    // without reordering (measured ~17% faster on ResNet-50 here).
    *slots_[name].tensor =
        channels_last && t.dim() == 4 ? t.contiguous(at::MemoryFormat::ChannelsLast) : t.contiguous();
  }
  sd.clear();
}

void ParamSet::To(c10::Device device, at::ScalarType dtype, const std::string& prefix) {
  for (auto& kv : slots_) {
    if (kv.first.compare(0, prefix.size(), prefix) != 0) continue;
    at::Tensor& t = *kv.second.tensor;
    t = at::isFloatingType(t.scalar_type()) ? t.to(device, dtype) : t.to(device);
  }
}

int64_t ParamSet::NumParameters() const {
  int64_t n = 0;
  for (const auto& kv : slots_) {
    if (kv.first.find("running_") != std::string::npos || kv.first.find("num_batches") != std::string::npos) continue;
    int64_t c = 1;
    for (auto s : kv.second.shape) c *= s;
    n += c;
  }
  return n;
}

Conv2d::Conv2d(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride_,
               int64_t padding_, int64_t dilation_, bool has_bias, int64_t groups_)
    : stride(stride_), padding(padding_), dilation(dilation_), groups(groups_) {
  if (groups < 1 || in % groups != 0 || out % groups != 0) {
    throw Error(Status::Internal(prefix + ": " + std::to_string(groups) + " groups do not divide the channels"));
  }
  weight = p.Add(prefix + "weight", {out, in / groups, k, k});
  if (has_bias) bias = p.Add(prefix + "bias", {out});
  int8 = std::make_shared<Int8Convolution>(weight, bias, stride, padding, dilation, groups);
  p.AddConvolution(prefix, int8);
}

at::Tensor Conv2d::operator()(const at::Tensor& x) const {
  if (int8 && int8->enabled() && x.is_cpu() && x.scalar_type() == at::kFloat) {
    if (ScopedInt8Calibration::Active()) {
      at::Tensor y = Convolve(x, *weight, bias ? *bias : at::Tensor(), {stride, stride}, {padding, padding},
                              {dilation, dilation}, groups);
      int8->Observe(x, y);
      return y;
    }
    if (int8->frozen()) {
      if (flop_count != nullptr) flop_count->Add(ConvolutionFlops(x, *weight, {stride}, {padding}, {dilation}));
      return int8->Forward(x);
    }
  }
  return Convolve(x, *weight, bias ? *bias : at::Tensor(), {stride, stride}, {padding, padding}, {dilation, dilation},
                  groups);
}

Norm2d::Norm2d(ParamSet& p, const std::string& prefix, int64_t c, Kind k, int64_t g, double e)
    : kind(k), groups(g), eps(e) {
  weight = p.Add(prefix + "weight", {c});
  bias = p.Add(prefix + "bias", {c});
  if (kind != Kind::kGroup) {
    running_mean = p.Add(prefix + "running_mean", {c});
    running_var = p.Add(prefix + "running_var", {c});
  }
  if (kind == Kind::kBatch) num_batches_tracked = p.Add(prefix + "num_batches_tracked", {});
}

at::Tensor Norm2d::operator()(const at::Tensor& x) const {
  // LibTorch 1.13's bfloat16 GroupNorm is wrong on channels-last inputs (errors of several units
  // on unit-variance data) and slow in NCHW. Channels-last (every bf16 network here): our own
  // kernel, statistics in float32 (1.1x the network's speed against the float32 round trip
  // below). Otherwise normalise in float32, in the input's memory order (to() with an explicit
  // format: the preserve-format copy is 90x slower).
  if (kind == Kind::kGroup && x.scalar_type() == at::kBFloat16 && x.is_cpu() &&
      x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return GroupNormChannelsLastBFloat16(x, groups, *weight, *bias, eps);
  }
  if (kind == Kind::kGroup && x.scalar_type() == at::kBFloat16) {
    const at::MemoryFormat format = x.suggest_memory_format();
    const at::Tensor y = at::group_norm(x.to(at::kFloat, false, false, format), groups, weight->to(at::kFloat),
                                        bias->to(at::kFloat), eps);
    return y.to(at::kBFloat16, false, false, format);
  }
  if (kind == Kind::kGroup) return at::group_norm(x, groups, *weight, *bias, eps);
  if (kind == Kind::kFrozenBatch) {
    const at::Tensor scale = weight->reshape({1, -1, 1, 1}) * (running_var->reshape({1, -1, 1, 1}) + eps).rsqrt();
    const at::Tensor shift = bias->reshape({1, -1, 1, 1}) - running_mean->reshape({1, -1, 1, 1}) * scale;
    return x * scale + shift;
  }
  return at::batch_norm(x, *weight, *bias, *running_mean, *running_var, /*training=*/false, 0.1, eps,
                        /*cudnn_enabled=*/true);
}

ConvTranspose2d::ConvTranspose2d(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t s,
                                 int64_t pad, int64_t out_pad)
    : kernel(k), stride(s), padding(pad), output_padding(out_pad) {
  if (pad < 0 || out_pad < 0 || out_pad > pad || out_pad >= s) {
    throw Error(Status::ModelError(prefix + ": transposed convolution with padding " + std::to_string(pad) +
                                   " and output_padding " + std::to_string(out_pad) + " is not supported"));
  }
  weight = p.Add(prefix + "weight", {in, out, k, k});
  bias = p.Add(prefix + "bias", {out});
}

at::Tensor ConvTranspose2d::Reference(const at::Tensor& x) const {
  // Every input value meets every (out, k, k) tap once: 2 x N x H x W x in x out x k x k.
  if (flop_count != nullptr && x.dim() == 4) flop_count->Add(2.0 * x.numel() * weight->size(1) * kernel * kernel);
  return at::conv_transpose2d(x, *weight, *bias, {stride, stride}, {padding, padding},
                              {output_padding, output_padding});
}

void ConvTranspose2d::Prepare() {
  phase_kernels.clear();
  if (kernel != 3 || stride != 2) return;
  const at::Tensor w = weight->transpose(0, 1);  // (out, in, 3, 3)
  at::Tensor even_idx = at::tensor({int64_t{2}, int64_t{0}}, at::kLong).to(w.device());
  at::Tensor odd_idx = at::tensor({int64_t{1}}, at::kLong).to(w.device());
  for (int py = 0; py < 2; ++py)
    for (int px = 0; px < 2; ++px)
      phase_kernels.push_back(w.index_select(2, py == 0 ? even_idx : odd_idx)
                                  .index_select(3, px == 0 ? even_idx : odd_idx)
                                  .contiguous(weight->suggest_memory_format()));
}

at::Tensor ConvTranspose2d::operator()(const at::Tensor& x) const {
  if (!subpixel || phase_kernels.size() != 4) return Reference(x);
  // Output row 2m takes taps k=0 (input row m) and k=2 (input row m-1); row 2m+1 takes k=1.
  // As convolutions over the input (cross-correlation, so taps in input order):
  //   even phase: kernel [w2, w0] over rows (m-1, m) with one row of zero padding -> H+1 rows;
  //   odd phase:  kernel [w1] -> H rows. Same for columns.
  const int64_t B = x.size(0), C = bias->size(0), H = x.size(2), W = x.size(3);
  at::Tensor out = at::empty({B, C, 2 * H + 1, 2 * W + 1}, x.options().memory_format(x.suggest_memory_format()));
  for (int py = 0; py < 2; ++py) {
    for (int px = 0; px < 2; ++px) {
      const at::Tensor& k = phase_kernels[py * 2 + px];
      at::Tensor phase = Convolve(x, k, *bias, {1, 1}, {py == 0 ? 1 : 0, px == 0 ? 1 : 0}, {1, 1});
      out.slice(2, py, c10::nullopt, 2).slice(3, px, c10::nullopt, 2).copy_(phase);
    }
  }
  if (padding == 0) return out;
  // Padding p removes p rows/cols at the start and end; output_padding adds op back at the end.
  return out.narrow(2, padding, 2 * H + 1 - 2 * padding + output_padding)
      .narrow(3, padding, 2 * W + 1 - 2 * padding + output_padding);
}

}  // namespace posebatch::native
