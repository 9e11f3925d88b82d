// Building blocks of the native (LibTorch C++) networks. Each layer registers its tensors in
// a ParamSet under DeepLabCut's exact state-dict names, so that weights load strictly.
// Layers are immutable after loading: Forward may run concurrently on different inputs.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace posebatch::native {

class Int8Convolution;

using StateDict = std::map<std::string, at::Tensor>;

// The tensors a network expects, by state-dict name, each with its shape.
class ParamSet {
 public:
  // Registers `name` with `shape`; the returned tensor is filled by Load().
  std::shared_ptr<at::Tensor> Add(const std::string& name, std::vector<int64_t> shape);
  // Moves every expected tensor out of `sd` (as float32, contiguous; integer buffers as they
  // are). Strict: a missing or unexpected key or a wrong shape is an Error naming the first
  // few offenders and `origin`.
  // With channels_last, convolution kernels are stored NHWC (for NHWC activations).
  void Load(StateDict& sd, const std::string& origin, bool channels_last = false);
  int64_t NumParameters() const;
  // Moves every floating-point tensor whose name starts with `prefix` to `device` as `dtype`
  // (after Load, before Prepare).
  void To(c10::Device device, at::ScalarType dtype, const std::string& prefix = "");
  // Every Conv2d registered under a name starting with `prefix`: the ones --precision int8
  // quantizes (see Int8Convolution).
  std::vector<std::shared_ptr<Int8Convolution>> Convolutions(const std::string& prefix) const;
  // Called by Conv2d's constructor.
  void AddConvolution(const std::string& name, std::shared_ptr<Int8Convolution> conv);

 private:
  struct Slot {
    std::vector<int64_t> shape;
    std::shared_ptr<at::Tensor> tensor;
  };
  std::map<std::string, Slot> slots_;
  std::vector<std::string> order_;
  std::vector<std::pair<std::string, std::shared_ptr<Int8Convolution>>> convolutions_;
};

// While one lives on this thread, Conv2d runs through at::conv2d (PyTorch's own choice of
// kernel, by sizes and thread count) instead of always oneDNN. Detectors need PyTorch's exact
// sums: their top-k and NMS turn last-bit differences into different boxes.
class ScopedTorchConvolution {
 public:
  ScopedTorchConvolution();
  ~ScopedTorchConvolution();
  ScopedTorchConvolution(const ScopedTorchConvolution&) = delete;
  ScopedTorchConvolution& operator=(const ScopedTorchConvolution&) = delete;

 private:
  bool previous_;
};

// While one lives on this thread, Convolve adds each convolution's multiply-adds (x2: FLOPs) to
// it: the bench's achieved GFLOP/s counts the work the network's layers really ask for.
class ScopedFlopCount {
 public:
  ScopedFlopCount();
  ~ScopedFlopCount();
  ScopedFlopCount(const ScopedFlopCount&) = delete;
  ScopedFlopCount& operator=(const ScopedFlopCount&) = delete;
  double flops() const { return flops_; }
  void Add(double flops) { flops_ += flops; }

 private:
  ScopedFlopCount* previous_;
  double flops_ = 0;
};

// at::conv2d, but every float32 or bfloat16 CPU convolution through oneDNN (see layers.cc for why) unless a
// ScopedTorchConvolution lives on this thread.
at::Tensor Convolve(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::IntArrayRef stride,
                    at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups = 1);

struct Conv2d {
  Conv2d() = default;
  // groups > 1: grouped convolution (groups == in == out: depthwise, as MobileNet's).
  Conv2d(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride = 1,
         int64_t padding = 0, int64_t dilation = 1, bool bias = false, int64_t groups = 1);
  at::Tensor operator()(const at::Tensor& x) const;
  std::shared_ptr<at::Tensor> weight, bias;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  // Its int8 form, shared by copies; runs only once enabled and calibrated (--precision int8).
  std::shared_ptr<Int8Convolution> int8;
};

// GroupNorm (timm's default of 32 groups), eval-mode BatchNorm2d, or torchvision's
// FrozenBatchNorm2d (no num_batches_tracked; x * (w / sqrt(var + eps)) + (b - mean * scale),
// computed in that order, as torchvision does).
struct Norm2d {
  enum class Kind { kBatch, kGroup, kFrozenBatch };
  Norm2d() = default;
  Norm2d(ParamSet& p, const std::string& prefix, int64_t channels, Kind kind, int64_t groups = 32, double eps = 1e-5);
  at::Tensor operator()(const at::Tensor& x) const;
  Kind kind = Kind::kBatch;
  int64_t groups = 32;
  double eps = 1e-5;
  std::shared_ptr<at::Tensor> weight, bias, running_mean, running_var, num_batches_tracked;
};

// nn.ConvTranspose2d, without padding or with padding p and output_padding op <= p (a crop of
// the unpadded output: DLCRNetHead's p = op = 1). The k=3, s=2 case (DeepLabCut's heads) runs
// as four ordinary convolutions on the input grid, one per output phase, written into the
// interleaved output: same sums, but through oneDNN instead of the reference-BLAS transposed
// convolution.
struct ConvTranspose2d {
  ConvTranspose2d() = default;
  ConvTranspose2d(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride,
                  int64_t padding = 0, int64_t output_padding = 0);
  at::Tensor operator()(const at::Tensor& x) const;
  // The same result through at::conv_transpose2d (reference for tests).
  at::Tensor Reference(const at::Tensor& x) const;
  // Slices the four phase kernels out of the loaded weight; call once after loading.
  void Prepare();
  std::shared_ptr<at::Tensor> weight, bias;
  std::vector<at::Tensor> phase_kernels;  // [even/odd rows][even/odd cols], (out, in, kh, kw)
  int64_t kernel = 3, stride = 2, padding = 0, output_padding = 0;
  bool subpixel = true;  // use the phase decomposition when it applies
};

}  // namespace posebatch::native
