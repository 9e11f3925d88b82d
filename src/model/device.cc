#include "model/device.h"

#include <ATen/Context.h>

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "posebatch/status.h"

namespace posebatch {

bool CpuSupportsBFloat16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) return true;
  // AMX-BF16, CPUID.(EAX=7,ECX=0):EDX[22]: clang 14's __builtin_cpu_supports does not know it.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0 && (edx & (1u << 22)) != 0;
#else
  return false;
#endif
}

bool CpuSupportsInt8() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // Our conversion kernels are AVX2 + FMA; __builtin_cpu_supports also checks that the OS saves
  // the AVX state.
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // CPUID.(EAX=7,ECX=0): ECX[11] AVX512-VNNI (with AVX-512 enabled), EDX[25] AMX-INT8.
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0) {
    if ((ecx & (1u << 11)) != 0 && __builtin_cpu_supports("avx512f")) return true;
    if ((edx & (1u << 25)) != 0) return true;
  }
  // CPUID.(EAX=7,ECX=1): EAX[4] AVX-VNNI (VNNI on 256-bit registers, e.g. Alder Lake).
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 4)) != 0;
#else
  return false;
#endif
}

bool QuantizedOneDnnAvailable() {
  const auto& engines = at::globalContext().supportedQEngines();
  return std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) != engines.end();
}

c10::Device ResolveDevice(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    throw Error(Status::InvalidArgument("unknown device '" + name + "' (use cpu or cuda[:N])"));
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda())
    throw Error(Status::InvalidArgument("device '" + name + "' is not supported (cpu or cuda[:N])"));
  if (!at::hasCUDA()) {
    throw Error(Status::InvalidArgument("--device " + name +
                                        ": this LibTorch has no CUDA support or sees no GPU (Debian's libtorch is "
                                        "CPU-only; build posebatch against a CUDA LibTorch to use a GPU)"));
  }
  return device;
}

}  // namespace posebatch
