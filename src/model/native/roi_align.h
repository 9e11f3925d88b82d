// torchvision 0.14's roi_align (its CPU kernel), for Faster R-CNN's MultiScaleRoIAlign:
// torchvision's C++ ops are not part of Debian's LibTorch. Same sampling points, same float
// arithmetic in the same order, so the pooled features are torchvision's bit for bit.
// Stateless: thread-safe.
#pragma once

#include <ATen/ATen.h>

namespace posebatch::native {

// rois (K, 5) = batch index, x1, y1, x2, y2 in image pixels; features (N, C, H, W) float32.
// Returns (K, C, pooled_h, pooled_w). With aligned=false, as Faster R-CNN uses it, no
// half-pixel shift and rois at least one cell wide and high. Computed on the CPU; the result
// goes back to the features' device.
at::Tensor RoIAlign(const at::Tensor& features, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
                    int64_t pooled_w, int64_t sampling_ratio, bool aligned);

}  // namespace posebatch::native
