// A fully connected layer that gives PyTorch's float32 CPU result bit for bit, faster.
//
// Debian's LibTorch computes at::linear through the reference (netlib) BLAS, as
// sgemm('T', 'N'): each output is a dot product summed from 0 in input order (every product
// rounded to float, then added), plus the bias at the end; single-threaded and unvectorized
// (Faster R-CNN's 12544 -> 1024 box head takes seconds). Here the same sums run in the same
// order per output, vectorized across outputs and split across threads: identical bits.
// Stateless: thread-safe.
#pragma once

#include <ATen/ATen.h>

namespace posebatch::native {

// The (in, out) transposed copy of a (out, in) nn.Linear weight that SequentialLinear takes.
at::Tensor PackLinearWeight(const at::Tensor& weight);

// x (M, in) float32 CPU, packed (in, out) from PackLinearWeight, bias (out): x · Wᵀ + bias,
// each output as the reference BLAS sums it.
at::Tensor SequentialLinear(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& bias);

}  // namespace posebatch::native
