#include "model/native/exact_linear.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>

#include "posebatch/status.h"

namespace posebatch::native {
namespace {

constexpr int64_t kTileRows = 4, kTileCols = 16, kDepthBlock = 256;

// acc(r, c) = acc(r, c) + x(r, l) * w(l, c) for l in [0, depth), l ascending: the reference
// BLAS's order for every output. Any rows x cols tile; plain float arithmetic, never fused
// into FMAs (fp-contract=off) whatever the build's -march.
__attribute__((optimize("fp-contract=off"))) void TileScalar(const float* x, int64_t ldx, const float* w, int64_t ldw,
                                                             float* acc, int64_t ldo, int64_t rows, int64_t cols,
                                                             int64_t depth) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float sum = acc[r * ldo + c];
      for (int64_t l = 0; l < depth; ++l) sum = sum + x[r * ldx + l] * w[l * ldw + c];
      acc[r * ldo + c] = sum;
    }
  }
}

// The same for a full 4 x 16 tile with AVX2 registers: each lane is one output, updated in the
// same order with the same roundings (separate multiply and add: this target has no FMA, so
// nothing can be fused).
__attribute__((target("avx2"), optimize("fp-contract=off"))) void TileAvx2(const float* x, int64_t ldx, const float* w,
                                                                           int64_t ldw, float* acc, int64_t ldo,
                                                                           int64_t depth) {
  __m256 a[kTileRows][2];
  for (int r = 0; r < kTileRows; ++r) {
    a[r][0] = _mm256_loadu_ps(acc + r * ldo);
    a[r][1] = _mm256_loadu_ps(acc + r * ldo + 8);
  }
  for (int64_t l = 0; l < depth; ++l) {
    const __m256 w0 = _mm256_loadu_ps(w + l * ldw), w1 = _mm256_loadu_ps(w + l * ldw + 8);
    for (int r = 0; r < kTileRows; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * ldx + l);
      a[r][0] = _mm256_add_ps(a[r][0], _mm256_mul_ps(xv, w0));
      a[r][1] = _mm256_add_ps(a[r][1], _mm256_mul_ps(xv, w1));
    }
  }
  for (int r = 0; r < kTileRows; ++r) {
    _mm256_storeu_ps(acc + r * ldo, a[r][0]);
    _mm256_storeu_ps(acc + r * ldo + 8, a[r][1]);
  }
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

}  // namespace

at::Tensor PackLinearWeight(const at::Tensor& weight) { return weight.to(at::kCPU, at::kFloat).t().contiguous(); }

at::Tensor SequentialLinear(const at::Tensor& x_in, const at::Tensor& packed, const at::Tensor& bias_in) {
  if (x_in.dim() != 2 || packed.dim() != 2 || x_in.size(1) != packed.size(0) || bias_in.numel() != packed.size(1)) {
    throw Error(Status::Internal("SequentialLinear: shapes do not match"));
  }
  const at::Tensor x = x_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor w = packed.contiguous();
  const at::Tensor bias = bias_in.to(at::kCPU, at::kFloat).contiguous();
  const int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  at::Tensor out = at::zeros({m, n}, x.options());  // the sums start from 0, as sgemm's TEMP
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const bool avx2 = HasAvx2();
  const int64_t row_blocks = (m + kTileRows - 1) / kTileRows;
  at::parallel_for(0, row_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t l0 = 0; l0 < k; l0 += kDepthBlock) {  // depth blocks in order: sums stay sequential
      const int64_t depth = std::min(kDepthBlock, k - l0);
      for (int64_t rb = begin; rb < end; ++rb) {
        const int64_t r0 = rb * kTileRows, rows = std::min(kTileRows, m - r0);
        for (int64_t c0 = 0; c0 < n; c0 += kTileCols) {
          const int64_t cols = std::min(kTileCols, n - c0);
          const float* xt = xp + r0 * k + l0;
          const float* wt = wp + l0 * n + c0;
          float* acc = op + r0 * n + c0;
          if (avx2 && rows == kTileRows && cols == kTileCols) {
            TileAvx2(xt, k, wt, n, acc, n, depth);
          } else {
            TileScalar(xt, k, wt, n, acc, n, rows, cols, depth);
          }
        }
      }
    }
  });
  // sgemm's C = alpha * TEMP + beta * C with alpha = beta = 1 and C holding the bias.
  out.add_(bias.unsqueeze(0));
  return out.to(x_in.device());
}

}  // namespace posebatch::native
