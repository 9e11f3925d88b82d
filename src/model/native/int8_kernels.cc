// Element-wise int8 conversions (see int8_kernels.h), for AVX2. Quantizing is written with
// intrinsics: GCC leaves a clamped float-to-uint8 loop scalar (its float min/max need
// -ffinite-math-only); dequantizing is a plain loop the compiler vectorises at -O3
// (CMakeLists.txt).
#include "model/native/int8_kernels.h"

#include <immintrin.h>

#include <cmath>

namespace posebatch::native {
namespace {

// 8 values: clamp(round_half_even(x * m + zp), 0, 255) stored as 8 bytes at q.
__attribute__((target("avx2,fma"))) inline void Quantize8(const float* x, __m256 m, __m256 zp, uint8_t* q) {
  __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x), m, zp);
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.f));
  const __m256i i = _mm256_cvtps_epi32(v);  // the current rounding mode: to nearest, ties to even
  const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(q), _mm_packus_epi16(words, words));
}

inline uint8_t QuantizeOne(float x, float m, float zp) {
  const float v = std::nearbyint(x * m + zp);
  return static_cast<uint8_t>(!(v >= 0.f) ? 0.f : v > 255.f ? 255.f : v);  // NaN: 0, as the vector path
}

}  // namespace

__attribute__((target("avx2,fma"))) void QuantizeUint8PerChannel(const float* x, uint8_t* q, int64_t pixels,
                                                                 int64_t channels, const float* multiplier,
                                                                 int32_t zero_point) {
  const float zp = static_cast<float>(zero_point);
  const __m256 vzp = _mm256_set1_ps(zp);
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * channels;
    uint8_t* qp = q + p * channels;
    int64_t c = 0;
    for (; c + 8 <= channels; c += 8) Quantize8(xp + c, _mm256_loadu_ps(multiplier + c), vzp, qp + c);
    for (; c < channels; ++c) qp[c] = QuantizeOne(xp[c], multiplier[c], zp);
  }
}

__attribute__((target("avx2,fma"))) void DequantizeUint8PerChannel(const uint8_t* q, float* y, int64_t pixels,
                                                                   int64_t channels, const float* multiplier,
                                                                   const float* offset) {
  for (int64_t p = 0; p < pixels; ++p) {
    // uint8_t may alias anything: without __restrict__ GCC would reload the multipliers.
    const uint8_t* __restrict__ qp = q + p * channels;
    float* __restrict__ yp = y + p * channels;
    for (int64_t c = 0; c < channels; ++c) yp[c] = static_cast<float>(qp[c]) * multiplier[c] + offset[c];
  }
}

}  // namespace posebatch::native
