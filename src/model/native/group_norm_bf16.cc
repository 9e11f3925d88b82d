#include "model/native/group_norm_bf16.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace posebatch::native {
namespace {

// bfloat16 is the top half of a float32: widening is a shift.
inline float Widen(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even, as c10::BFloat16 does for finite values (activations here are finite;
// a NaN would come out as a NaN or infinity, never as a finite number).
inline uint16_t Narrow(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// Adds the row's values and squares to s[0..c) and s[c..2c).
__attribute__((target("avx512f,avx512bw"))) void Accumulate(const uint16_t* row, int64_t c, float* s) {
  float* s2 = s + c;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float v = Widen(row[ch]);
    s[ch] += v;
    s2[ch] += v * v;
  }
}

__attribute__((target("avx512f,avx512bw"))) void ScaleShift(const uint16_t* row, int64_t c, const float* a,
                                                            const float* sh, uint16_t* out) {
  for (int64_t ch = 0; ch < c; ++ch) out[ch] = Narrow(Widen(row[ch]) * a[ch] + sh[ch]);
}

}  // namespace

at::Tensor GroupNormChannelsLastBFloat16(const at::Tensor& x, int64_t groups, const at::Tensor& weight,
                                         const at::Tensor& bias, double eps) {
  TORCH_CHECK(
      x.dim() == 4 && x.scalar_type() == at::kBFloat16 && x.is_cpu() && x.is_contiguous(at::MemoryFormat::ChannelsLast),
      "GroupNormChannelsLastBFloat16 needs a channels-last bfloat16 CPU tensor");
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  TORCH_CHECK(groups > 0 && c % groups == 0, "GroupNorm: ", groups, " groups do not divide ", c, " channels");
  const int64_t per_group = c / groups;
  const at::Tensor w = weight.to(at::kFloat).contiguous(), b = bias.to(at::kFloat).contiguous();
  const float* wp = w.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  at::Tensor out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  const auto* in = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>());
  auto* o = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  // Pixels per work item: enough to amortise a task, small enough to split an image two ways.
  const int64_t grain = std::max<int64_t>(1, 16384 / c);
  const int64_t chunks = (hw + grain - 1) / grain;
  std::vector<float> sums(static_cast<size_t>(chunks * 2 * c));
  std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t* image = in + i * hw * c;
    // Pass 1: per chunk of pixels, per channel sum and sum of squares (float32 over <= grain
    // pixels; chunks are combined in double).
    at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
      for (int64_t k = first; k < last; ++k) {
        float* s = sums.data() + k * 2 * c;
        std::fill(s, s + 2 * c, 0.0f);
        const int64_t p_end = std::min(hw, (k + 1) * grain);
        for (int64_t p = k * grain; p < p_end; ++p) Accumulate(image + p * c, c, s);
      }
    });
    for (int64_t g = 0; g < groups; ++g) {
      double sum = 0, sum2 = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        const float* s = sums.data() + k * 2 * c;
        for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
          sum += s[ch];
          sum2 += s[c + ch];
        }
      }
      const double count = static_cast<double>(hw * per_group);
      const double mean = sum / count;
      const double var = std::max(0.0, sum2 / count - mean * mean);
      const double rstd = 1.0 / std::sqrt(var + eps);
      for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
        scale[ch] = static_cast<float>(wp[ch] * rstd);
        shift[ch] = static_cast<float>(bp[ch] - mean * wp[ch] * rstd);
      }
    }
    // Pass 2: y = x * scale + shift, per channel.
    uint16_t* dst = o + i * hw * c;
    const float* a = scale.data();
    const float* sh = shift.data();
    at::parallel_for(0, hw, grain, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p) ScaleShift(image + p * c, c, a, sh, dst + p * c);
    });
  }
  return out;
}

}  // namespace posebatch::native
