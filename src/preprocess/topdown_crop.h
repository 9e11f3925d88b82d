// Top-down crops: one box of a frame -> one normalized network input row, as DeepLabCut's
// `top_down_crop` (data/image.py) makes it, pixel for pixel: the box (x, y, w, h), widened to
// the output aspect ratio (with context) or zero-padded to it (without context, CTD), cut out
// of the frame with zero padding where it leaves the frame, resized by OpenCV's
// cv::resize(INTER_LINEAR) on 8-bit pixels (its fixed-point arithmetic reproduced here), then
// normalized. Everything happens in one pass, from the frame straight into the row.
#pragma once

#include <array>
#include <string>

#include "posebatch/frame_source.h"
#include "posebatch/model.h"

namespace posebatch {

// Maps crop pixels back to frame pixels: p_frame = p_crop * scale + offset (DeepLabCut's
// RescaleAndOffset, KEYPOINT_TD mode).
struct CropTransform {
  double offset_x = 0, offset_y = 0;
  double scale_x = 1, scale_y = 1;
};

// Where a box's crop comes from: frame rectangle [x1, x1+w) x [y1, y1+h) placed at
// (pad_left, pad_top) in a zero canvas of (w + pad_x) x (h + pad_y), resized to out_w x out_h.
struct CropPlan {
  int x1 = 0, y1 = 0, w = 0, h = 0;
  int pad_left = 0, pad_top = 0, pad_x = 0, pad_y = 0;
  int out_w = 0, out_h = 0;
  CropTransform transform;
  int canvas_w() const { return w + pad_x; }
  int canvas_h() const { return h + pad_y; }
};

// DeepLabCut's arithmetic (float64, Python's round-half-even). box = x, y, w, h in frame
// pixels. Throws Error (kInvalidArgument) when the box leaves no pixel to crop (empty canvas).
CropPlan PlanTopDownCrop(const std::array<double, 4>& box, int frame_w, int frame_h, const TopDownCropSpec& spec);

// Immutable once built: safe to share between preprocess workers (scratch buffers are
// thread_local).
class TopDownCropper {
 public:
  explicit TopDownCropper(const InputSpec& input);
  // Writes 3 * plan.out_h * plan.out_w normalized floats to `out`, planar (CHW) or interleaved
  // (HWC): the resized crop exactly as DeepLabCut's preprocessing gives it to the network.
  void Write(const Frame& frame, const CropPlan& plan, float* out, InputLayout layout = InputLayout::kNCHW) const;
  // The resized 8-bit crop only (RGB, HWC), as cv2.resize returns it: for tests and CTD.
  void WriteBytes(const Frame& frame, const CropPlan& plan, uint8_t* out) const;

 private:
  std::array<std::array<float, 256>, 3> lut_;  // value per channel per byte
  bool bgr_;
};

}  // namespace posebatch
