// torchvision 0.14's box operations (torchvision.ops.boxes, BoxCoder, the detection transform's
// box resize), for the native detectors: torchvision's C++ ops are not part of Debian's
// LibTorch. Each uses the same ATen operations in the same order as torchvision, so the float32
// results are the same, and NMS breaks ties as torchvision's CPU kernel does.
// Boxes are float32 (N, 4) as x1, y1, x2, y2. Stateless: every function is thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cmath>

namespace posebatch::native {

// torchvision.ops.nms (its CPU kernel): indices (int64) of the boxes kept, by decreasing
// score (equal scores: lower index first); a box is dropped when its IoU with a kept,
// higher-scoring box is > iou_threshold.
// Runs on the CPU whatever the inputs' device; returns CPU indices.
at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

// torchvision.ops.batched_nms: NMS within each category `idxs`, never across. As torchvision on
// the CPU: up to 4000 coordinates by offsetting each category's boxes (the coordinate trick),
// beyond that category by category. Returns CPU indices by decreasing score.
at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold);

// torchvision.ops.clip_boxes_to_image: x into [0, width], y into [0, height].
at::Tensor ClipBoxesToImage(const at::Tensor& boxes, int64_t height, int64_t width);

// torchvision.ops.remove_small_boxes: indices of the boxes at least min_size wide and high.
at::Tensor RemoveSmallBoxes(const at::Tensor& boxes, double min_size);

// BoxCoder(weights, bbox_xform_clip).decode_single: `rel_codes` (N, 4) dx, dy, dw, dh relative
// to `reference` boxes (N, 4) -> boxes (N, 4).
at::Tensor DecodeBoxes(const at::Tensor& rel_codes, const at::Tensor& reference, const std::array<double, 4>& weights,
                       double bbox_xform_clip = std::log(1000.0 / 16));

// The detection transform's resize_boxes: from an image of from_h x from_w to to_h x to_w.
at::Tensor ResizeBoxes(const at::Tensor& boxes, int64_t from_h, int64_t from_w, int64_t to_h, int64_t to_w);

}  // namespace posebatch::native
