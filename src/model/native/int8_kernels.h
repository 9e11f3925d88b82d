// The element-wise passes around an int8 convolution (--precision int8): float32 activations to
// uint8 and back. LibTorch 1.13's quantize_per_tensor runs a scalar loop here (6.8 ms for 1.2 M
// values against 0.1 ms for a bfloat16 conversion), which cost more than the int8 convolution
// saved. Plain functions on ranges: the caller splits the work across threads. Compiled for AVX2:
// call them only where CpuSupportsInt8() (which implies AVX2).
#pragma once

#include <cstdint>

namespace posebatch::native {

// Channels-last rows: q[p][c] = clamp(round(x[p][c] * multiplier[c]) + zero_point, 0, 255),
// rounding half to even (as at::quantize_per_tensor). The per-channel multipliers fold in
// per-channel input scales (see Int8Convolution).
void QuantizeUint8PerChannel(const float* x, uint8_t* q, int64_t pixels, int64_t channels, const float* multiplier,
                             int32_t zero_point);

// Channels-last rows of `channels` values: y[p][c] = q[p][c] * multiplier[c] + offset[c].
void DequantizeUint8PerChannel(const uint8_t* q, float* y, int64_t pixels, int64_t channels, const float* multiplier,
                               const float* offset);

}  // namespace posebatch::native
