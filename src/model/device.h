// Which device a network runs on, from the user's "cpu" / "cuda[:N]".
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace posebatch {

// Parses `name`. Throws Error (kInvalidArgument) for an unknown device, and for CUDA when this
// LibTorch has no CUDA support (Debian's libtorch-dev is CPU-only) or sees no GPU.
c10::Device ResolveDevice(const std::string& name);

}  // namespace posebatch
