#include "model/device.h"

#include <ATen/Context.h>

#include "posebatch/status.h"

namespace posebatch {

bool CpuSupportsBFloat16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
#else
  return false;
#endif
}

c10::Device ResolveDevice(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    throw Error(Status::InvalidArgument("unknown device '" + name + "' (use cpu or cuda[:N])"));
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda()) throw Error(Status::InvalidArgument("device '" + name + "' is not supported (cpu or cuda[:N])"));
  if (!at::hasCUDA()) {
    throw Error(Status::InvalidArgument("--device " + name +
                                        ": this LibTorch has no CUDA support or sees no GPU (Debian's libtorch is "
                                        "CPU-only; build posebatch against a CUDA LibTorch to use a GPU)"));
  }
  return device;
}

}  // namespace posebatch
