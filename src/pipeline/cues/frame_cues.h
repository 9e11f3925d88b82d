// What a top-down or CTD run learns about a frame before cropping it, and the batched model
// stage that can provide it: a detector (boxes) or a bottom-up model whose poses are a CTD
// model's conditions.
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "posebatch/detector.h"
#include "posebatch/model.h"

namespace posebatch {

struct FrameCues {
  Detections detections;  // top-down: boxes (x, y, w, h in frame pixels), best first
  at::Tensor conditions;  // CTD: float32 (n, K, 3) = x, y, score in frame pixels
};

// The model stage before cropping, run on frames batched through a slot pool. Not
// thread-safe: the run's inference thread owns it.
class CueModel {
 public:
  virtual ~CueModel() = default;
  virtual const InputSpec& input() const = 0;  // how frames are normalized for it
  virtual InputLayout layout() const = 0;      // how slot rows are laid out
  virtual std::string what() const = 0;        // for error messages: "detector", ...
  // batch: (rows, 3, H, W) normalized frames, unpadded frame pixels at the top left. One
  // FrameCues per row. Throws Error.
  virtual std::vector<FrameCues> Run(const at::Tensor& batch) = 0;
};

std::unique_ptr<CueModel> MakeDetectorCues(Detector& detector);

// A bottom-up model's poses as conditions for a CTD model with `num_keypoints` bodyparts, as
// DeepLabCut's CTDInferenceRunner.add_conditions takes them: its postprocessor's individuals
// (x, y, score), keeping those with at least one keypoint whose x, y and score are all > 0.
// Throws Error (kInvalidArgument) when the model is not bottom-up or its bodyparts differ.
std::unique_ptr<CueModel> MakeBottomUpConditionCues(Model& bottom_up, int64_t num_keypoints);

}  // namespace posebatch
