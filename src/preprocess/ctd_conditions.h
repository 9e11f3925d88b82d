// Conditional top-down (CTD, BUCTD) around the network, as DeepLabCut 3.0.1 does it:
// - before: FilterLowConfidencePoses (max score >= 0.05), ComputeBoundingBoxesFromCondKeypoints
//   (keypoints with score > 0, min/max -/+ bbox_margin, clipped to the image),
//   FilterInvalidBoundingBoxes (area >= 1), TopDownCrop (no context by default) and
//   ConditionalKeypointsToModelInputs (conditions in crop pixels, stored as float32);
// - in the network: StackedKeypointEncoder (one channel per keypoint, 255 at (y-1, x-1),
//   cv2.GaussianBlur, rescaled to a maximum of 255 over the whole crop);
// - after: the top-down postprocessor with BUCTD rescoring.
// Free functions of their inputs: safe to call from several threads.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <vector>

#include "preprocess/topdown_crop.h"

namespace posebatch {

// One condition pose kept for the CTD network.
struct CtdCrop {
  std::array<double, 4> box;      // x, y, w, h in frame pixels (DeepLabCut's final_bboxes)
  CropPlan plan;                  // how the crop is cut and mapped back
  std::vector<float> conditions;  // K x (x, y, score), x and y in crop pixels
  float score_mean = 0;           // mean of the condition scores (rescoring)
};

// conditions: K keypoints x (x, y, score) per pose, n poses, in frame pixels (NaN allowed).
// Returns the poses DeepLabCut keeps, in its order.
std::vector<CtdCrop> PrepareCtdCrops(const float* conditions, int64_t n, int64_t k, int frame_w, int frame_h,
                                     double bbox_margin, const TopDownCropSpec& crop);

// StackedKeypointEncoder + blur_heatmap for one crop: writes K planes of h x w float32 to
// `out`. cond: K x (x, y, score) in crop pixels; img_h, img_w: the encoder's img_size (the
// out-of-bounds test); kernel_w, kernel_h: the Gaussian kernel (OpenCV's sigma from the size).
void EncodeConditions(const float* cond, int64_t k, int h, int w, int img_h, int img_w, int kernel_w, int kernel_h,
                      float* out);

// The postprocessor: crop poses (n, K, 3) -> frame (max(n, max_individuals), K, 3) float32,
// -1 rows for absent individuals, every score of pose i replaced by
// score_mean_i * mean(keypoint scores >= 0.2) (0 when none reaches 0.2), unless `rescore` is
// false (DeepLabCut's tracking: scores stay the network's).
at::Tensor CtdFramePoses(const at::Tensor& crop_poses, const std::vector<CtdCrop>& crops, int max_individuals,
                         bool rescore = true);

}  // namespace posebatch
