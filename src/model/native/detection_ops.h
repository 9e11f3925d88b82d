// torchvision 0.14's detection operators (torchvision.ops and models/detection/_utils.py),
// written for LibTorch with their exact CPU arithmetic: same operation order, same float32
// rounding, same tie-breaking. Detectors built on them give torchvision's boxes, not just
// similar ones: a box that torchvision keeps or drops by a hair is kept or dropped here too.
// Stateless functions: thread-safe.
#pragma once

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

// torchvision.ops.nms (CPU kernel): indices of the kept boxes (x1, y1, x2, y2), by decreasing
// score (a stable sort: equal scores keep their input order); a box is dropped when its IoU with
// a kept box is > iou_threshold.
at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

// torchvision.ops.batched_nms: NMS within each class of `idxs`. Like torchvision, more than
// 1000 boxes run one NMS per class, fewer run one NMS on boxes shifted apart per class (the
// shift changes the float32 rounding of the IoUs, so both paths are reproduced).
at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold);

// torchvision.ops.clip_boxes_to_image: size = (height, width).
at::Tensor ClipBoxesToImage(const at::Tensor& boxes, int64_t height, int64_t width);

// torchvision.ops.remove_small_boxes: indices of the boxes with both sides >= min_size.
at::Tensor RemoveSmallBoxes(const at::Tensor& boxes, double min_size);

// models/detection/_utils.py BoxCoder.decode_single: deltas (N, 4k) against reference boxes
// (N, 4) with weights (wx, wy, ww, wh); returns (N, 4k) boxes x1, y1, x2, y2.
at::Tensor DecodeBoxes(const at::Tensor& deltas, const at::Tensor& reference, const std::array<double, 4>& weights);

}  // namespace posebatch::native
