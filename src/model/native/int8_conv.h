// One convolution in int8 (--precision int8): weights quantized per output channel (symmetric
// int8), its input per tensor and its output per channel (asymmetric uint8), with ranges
// measured once, on a float32 calibration pass, then fixed. oneDNN runs the convolution
// (LibTorch's quantized engine); input and output stay float32 around it, so norms, activations
// and heads are unchanged.
//
// Thread-safety: Observe and Freeze mutate and must run on one thread, before any Forward (the
// network calibrates under a lock); afterwards Forward is const and may run concurrently.
#pragma once

#include <ATen/ATen.h>
#include <ATen/native/quantized/PackedParams.h>

#include <memory>

namespace posebatch::native {

class Int8Convolution {
 public:
  // The float32 kernel and bias are read when Freeze() packs them (after loading).
  Int8Convolution(std::shared_ptr<at::Tensor> weight, std::shared_ptr<at::Tensor> bias, int64_t stride, int64_t padding,
                  int64_t dilation, int64_t groups);

  // Marks this convolution for int8; it runs float32 until calibrated and frozen.
  void Enable() { enabled_ = true; }
  bool enabled() const { return enabled_; }
  int64_t input_channels_per_group() const { return weight_->size(1); }
  // Quantize's q[c] = round(x[c] * input_multiplier()[c]) + zero point, once frozen.
  const at::Tensor& input_multiplier() const { return in_multiplier_; }
  // Widens the observed input and output ranges with a float32 convolution's x and y.
  void Observe(const at::Tensor& x, const at::Tensor& y);
  // Fixes the activation scales from the observed ranges and packs the quantized weights.
  void Freeze();
  bool frozen() const { return packed_ != nullptr; }
  // Back to the state before Observe: ranges and packed weights dropped (float32 until frozen).
  void Reset();
  // x: float32 CPU (N, C, H, W), any memory format (NCHW is first copied to NHWC). Returns
  // float32 NHWC: Dequantize(Convolve(Quantize(x))).
  at::Tensor Forward(const at::Tensor& x) const;
  // The three steps of Forward (the bench times the convolution alone).
  at::Tensor Quantize(const at::Tensor& x) const;     // float32 -> quint8 at the input scale
  at::Tensor Convolve(const at::Tensor& qx) const;    // quint8 -> quint8, each channel on its range
  at::Tensor Dequantize(const at::Tensor& qy) const;  // quint8 -> float32, same memory format

 private:
  std::shared_ptr<at::Tensor> weight_, bias_;
  int64_t stride_, padding_, dilation_, groups_;
  bool enabled_ = false;
  at::Tensor in_min_c_, in_max_c_;         // per input channel
  at::Tensor in_divisor_, in_multiplier_;  // Quantize: q[c] = x[c] * multiplier[c] + zero point
  at::Tensor out_min_, out_max_;           // per output channel, float32
  double in_scale_ = 1;
  int64_t in_zero_point_ = 0;
  at::Tensor out_multiplier_, out_offset_;  // Dequantize: y[c] = q * multiplier[c] + offset[c]
  c10::intrusive_ptr<ConvPackedParamsBase<2>> packed_;
};

// While one lives on this thread, enabled Int8Convolutions run float32 and observe their ranges.
class ScopedInt8Calibration {
 public:
  ScopedInt8Calibration();
  ~ScopedInt8Calibration();
  ScopedInt8Calibration(const ScopedInt8Calibration&) = delete;
  ScopedInt8Calibration& operator=(const ScopedInt8Calibration&) = delete;
  static bool Active();

 private:
  bool previous_;
};

}  // namespace posebatch::native
