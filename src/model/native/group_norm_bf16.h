// GroupNorm of channels-last bfloat16 activations, statistics in float32 (--precision bf16).
// LibTorch 1.13's own bfloat16 GroupNorm is wrong on channels-last inputs, and the float32
// round trip around its float32 kernel reads and writes every activation three times.
// Thread-safe: a pure function (parallel inside, through ATen's intra-op pool).
#pragma once

#include <ATen/ATen.h>

namespace posebatch::native {

// y = (x - mean_g) / sqrt(var_g + eps) * weight + bias, per image and group g of
// channels / groups consecutive channels. x: (N, C, H, W) bfloat16, channels-last-contiguous;
// weight, bias: (C) of any floating type. Returns bfloat16, channels-last. Its loops are
// compiled for AVX-512: call it only where CpuSupportsBFloat16() (bfloat16 networks).
at::Tensor GroupNormChannelsLastBFloat16(const at::Tensor& x, int64_t groups, const at::Tensor& weight,
                                         const at::Tensor& bias, double eps);

}  // namespace posebatch::native
