// torchvision 0.14's RoIAlign (torchvision.ops.roi_align) for Faster R-CNN,
// written for LibTorch with their exact CPU arithmetic: same operation order, same float32
// rounding, same tie-breaking. Detectors built on them give torchvision's boxes, not just
// similar ones: a box that torchvision keeps or drops by a hair is kept or dropped here too.
// Stateless functions: thread-safe.
#pragma once

#include "model/native/box_ops.h"  // NMS, clipping, box decoding (shared with SSDLite)

#include <ATen/ATen.h>

#include <array>
#include <utility>
#include <vector>

namespace posebatch::native {

// torchvision.ops.roi_align (CPU kernel): rois (K, 5) = batch index, x1, y1, x2, y2 in image
// pixels; features (N, C, H, W) float32. Returns (K, C, pooled_h, pooled_w). With
// aligned=false, as Faster R-CNN uses it, no half-pixel shift and rois at least 1x1 cell.
at::Tensor RoIAlign(const at::Tensor& features, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
                    int64_t pooled_w, int64_t sampling_ratio, bool aligned);

}  // namespace posebatch::native
