// torchvision.ops.deform_conv2d (no mask, one offset group, one weight group), which
// DeepLabCut's DEKR offset head (AdaptBlock) uses and LibTorch does not ship.
// Free functions of their inputs: safe to call concurrently.
#pragma once

#include <ATen/ATen.h>

namespace posebatch::native {

// x: (N, C, H, W); offset: (N, 2 * kh * kw, Ho, Wo) with channel 2k = dy and 2k + 1 = dx of
// kernel tap k = i * kw + j (torchvision's layout); weight: (O, C, kh, kw); bias may be
// undefined. Tap k of output (oy, ox) samples x bilinearly at
//   y = oy * stride - padding + i * dilation + dy,  x = ox * stride - padding + j * dilation + dx
// with zeros outside the image (a point with y <= -1, y >= H, x <= -1 or x >= W reads 0), as
// torchvision's kernel does. float32 CPU tensors run a dedicated loop; anything else (CUDA,
// float16) runs DeformConv2dReference.
at::Tensor DeformConv2d(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t stride, int64_t padding, int64_t dilation);

// The same sampling written with ATen gathers (any device and dtype); also the CPU loop's
// cross-check in the tests.
at::Tensor DeformConv2dReference(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight,
                                 const at::Tensor& bias, int64_t stride, int64_t padding, int64_t dilation);

}  // namespace posebatch::native
