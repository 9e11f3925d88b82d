#include "model/native/deform_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "model/native/layers.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

struct Geometry {
  int64_t n, c, h, w, out_c, kh, kw, out_h, out_w;
};

Geometry Check(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight, int64_t stride, int64_t padding,
               int64_t dilation) {
  auto bad = [](const std::string& what) { throw Error(Status::ModelError("deformable convolution: " + what)); };
  if (x.dim() != 4 || offset.dim() != 4 || weight.dim() != 4) bad("input, offset and weight must be 4-d");
  Geometry g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3), 0, 0};
  if (weight.size(1) != g.c)
    bad("weight expects " + std::to_string(weight.size(1)) + " input channels, got " + std::to_string(g.c));
  if (stride < 1 || dilation < 1 || padding < 0) bad("stride and dilation must be positive, padding not negative");
  g.out_h = (g.h + 2 * padding - dilation * (g.kh - 1) - 1) / stride + 1;
  g.out_w = (g.w + 2 * padding - dilation * (g.kw - 1) - 1) / stride + 1;
  if (g.out_h < 1 || g.out_w < 1) bad("input smaller than the kernel");
  if (offset.size(0) != g.n || offset.size(1) != 2 * g.kh * g.kw || offset.size(2) != g.out_h ||
      offset.size(3) != g.out_w) {
    bad("offset must be (N, 2 * kh * kw, out_h, out_w) (one offset group)");
  }
  return g;
}

// (N, C * kh * kw, L) columns -> (N, O, out_h, out_w): a 1x1 convolution of the columns
// (through oneDNN on the CPU: Debian's reference BLAS took 8 ms for DEKR's 15-channel 64x64
// case as a matrix product).
at::Tensor Contract(const at::Tensor& cols, const at::Tensor& weight, const at::Tensor& bias, const Geometry& g) {
  return Convolve(cols.view({g.n, -1, g.out_h, g.out_w}), weight.reshape({g.out_c, -1, 1, 1}).contiguous(), bias,
                  {1, 1}, {0, 0}, {1, 1});
}

}  // namespace

at::Tensor DeformConv2d(const at::Tensor& x_in, const at::Tensor& offset_in, const at::Tensor& weight,
                        const at::Tensor& bias, int64_t stride, int64_t padding, int64_t dilation) {
  const Geometry g = Check(x_in, offset_in, weight, stride, padding, dilation);
  if (!x_in.is_cpu() || x_in.scalar_type() != at::kFloat || offset_in.scalar_type() != at::kFloat) {
    return DeformConv2dReference(x_in, offset_in, weight, bias, stride, padding, dilation);
  }
  const at::Tensor x = x_in.contiguous(), offset = offset_in.contiguous();
  const int64_t taps = g.kh * g.kw, plane = g.out_h * g.out_w, hw = g.h * g.w;
  at::Tensor cols = at::empty({g.n, g.c * taps, plane}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* op = offset.data_ptr<float>();
  float* cp = cols.data_ptr<float>();
  // Work item: one tap of one image over a block of output positions. The four corners of
  // each sample (index, weight) are computed once into a small buffer, then every channel
  // reads through them. A corner outside the image gets weight 0 and index 0, which adds the
  // same 0 as torchvision's skipped read.
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (plane + kBlock - 1) / kBlock;
  at::parallel_for(0, g.n * taps * blocks, 1, [&](int64_t begin, int64_t end) {
    int64_t index[4 * kBlock];
    float weights[4 * kBlock];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / (taps * blocks), k = (item / blocks) % taps, first = (item % blocks) * kBlock;
      const int64_t count = std::min(kBlock, plane - first);
      const int64_t i = k / g.kw, j = k % g.kw;
      const float* dy = op + (n * 2 * taps + 2 * k) * plane;
      const float* dx = dy + plane;
      int64_t oy = first / g.out_w, ox = first % g.out_w;
      for (int64_t s = 0; s < count; ++s) {
        const int64_t pos = first + s;
        const float y = static_cast<float>(oy * stride - padding + i * dilation) + dy[pos];
        const float xx = static_cast<float>(ox * stride - padding + j * dilation) + dx[pos];
        if (++ox == g.out_w) ox = 0, ++oy;
        int64_t* q = index + 4 * s;
        float* w = weights + 4 * s;
        q[0] = q[1] = q[2] = q[3] = 0;
        w[0] = w[1] = w[2] = w[3] = 0.f;
        if (!(y > -1 && y < g.h && xx > -1 && xx < g.w)) continue;
        const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(xx));
        const int64_t y1 = y0 + 1, x1 = x0 + 1;
        const float ly = y - y0, lx = xx - x0, hy = 1 - ly, hx = 1 - lx;
        if (y0 >= 0 && x0 >= 0) q[0] = y0 * g.w + x0, w[0] = hy * hx;
        if (y0 >= 0 && x1 <= g.w - 1) q[1] = y0 * g.w + x1, w[1] = hy * lx;
        if (y1 <= g.h - 1 && x0 >= 0) q[2] = y1 * g.w + x0, w[2] = ly * hx;
        if (y1 <= g.h - 1 && x1 <= g.w - 1) q[3] = y1 * g.w + x1, w[3] = ly * lx;
      }
      for (int64_t c = 0; c < g.c; ++c) {
        const float* ch = xp + (n * g.c + c) * hw;
        float* col = cp + ((n * g.c + c) * taps + k) * plane + first;  // column row (c, k)
        for (int64_t s = 0; s < count; ++s) {
          const int64_t* q = index + 4 * s;
          const float* w = weights + 4 * s;
          col[s] = w[0] * ch[q[0]] + w[1] * ch[q[1]] + w[2] * ch[q[2]] + w[3] * ch[q[3]];
        }
      }
    }
  });
  return Contract(cols, weight, bias, g);
}

at::Tensor DeformConv2dReference(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight,
                                 const at::Tensor& bias, int64_t stride, int64_t padding, int64_t dilation) {
  const Geometry g = Check(x, offset, weight, stride, padding, dilation);
  const int64_t taps = g.kh * g.kw, plane = g.out_h * g.out_w;
  const auto idx = at::TensorOptions().dtype(at::kLong).device(x.device());
  const at::Tensor tap = at::arange(taps, idx);
  const at::Tensor base_y = (at::arange(g.out_h, idx) * stride - padding).view({1, 1, g.out_h, 1}) +
                            (tap.div(g.kw, "floor") * dilation).view({1, taps, 1, 1});
  const at::Tensor base_x = (at::arange(g.out_w, idx) * stride - padding).view({1, 1, 1, g.out_w}) +
                            (tap.remainder(g.kw) * dilation).view({1, taps, 1, 1});
  const at::Tensor off = offset.view({g.n, taps, 2, g.out_h, g.out_w});
  const at::Tensor y = base_y.to(offset.scalar_type()) + off.select(2, 0);  // (N, taps, Ho, Wo)
  const at::Tensor xx = base_x.to(offset.scalar_type()) + off.select(2, 1);
  const at::Tensor inside = (y > -1) & (y < g.h) & (xx > -1) & (xx < g.w);
  const at::Tensor y0 = y.floor(), x0 = xx.floor();
  const at::Tensor ly = y - y0, lx = xx - x0, hy = 1 - ly, hx = 1 - lx;
  const at::Tensor flat = x.reshape({g.n, g.c, g.h * g.w});
  auto corner = [&](const at::Tensor& cy, const at::Tensor& cx) {
    const at::Tensor ok = inside & (cy >= 0) & (cy <= g.h - 1) & (cx >= 0) & (cx <= g.w - 1);
    const at::Tensor index = (cy.clamp(0, g.h - 1) * g.w + cx.clamp(0, g.w - 1)).to(at::kLong);
    const at::Tensor v = flat.gather(2, index.view({g.n, 1, taps * plane}).expand({g.n, g.c, taps * plane}));
    return v * ok.view({g.n, 1, taps * plane}).to(x.scalar_type());
  };
  auto w = [&](const at::Tensor& a, const at::Tensor& b) { return (a * b).view({g.n, 1, taps * plane}); };
  const at::Tensor cols = w(hy, hx) * corner(y0, x0) + w(hy, lx) * corner(y0, x0 + 1) + w(ly, hx) * corner(y0 + 1, x0) +
                          w(ly, lx) * corner(y0 + 1, x0 + 1);
  return Contract(cols.view({g.n, g.c * taps, plane}), weight, bias, g);
}

}  // namespace posebatch::native
