// Which device a network runs on, from the user's "cpu" / "cuda[:N]".
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace posebatch {

// Parses `name`. Throws Error (kInvalidArgument) for an unknown device, and for CUDA when this
// LibTorch has no CUDA support (Debian's libtorch-dev is CPU-only) or sees no GPU.
c10::Device ResolveDevice(const std::string& name);

// Whether this CPU has bfloat16 dot products (AVX512-BF16, or AMX-BF16) for oneDNN's bfloat16
// convolutions. Elsewhere oneDNN would emulate them, slower than float32.
bool CpuSupportsBFloat16();

// Whether this CPU has 8-bit integer dot products (AVX512-VNNI, AVX-VNNI or AMX-INT8) for
// oneDNN's int8 convolutions. Without them oneDNN's int8 path sums u8 x s8 pairs in 16 bits,
// which saturates, and is no faster than float32.
bool CpuSupportsInt8();

// Whether this LibTorch has its oneDNN quantized engine (which --precision int8 runs on).
bool QuantizedOneDnnAvailable();

}  // namespace posebatch
