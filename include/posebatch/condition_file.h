// Condition poses given per frame for a conditional top-down (CTD) model (analyze --conditions).
// Code: src/io/condition_file.cc.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

namespace posebatch {

// Condition poses given per frame for a conditional top-down (CTD) model, as DeepLabCut's
// CondFromFile reads them. Implementations must be safe to call from the decode thread while
// the caller waits in RunPipeline.
class ConditionProvider {
 public:
  virtual ~ConditionProvider() = default;
  // float32 (n, K, 3) = x, y, score in frame pixels for frame `index` (videos) or the image
  // `label`; n = 0 when the frame has no entry or no visible condition.
  virtual at::Tensor ConditionsFor(int64_t index, const std::string& label) const = 0;
};

// Reads conditions for a model with `num_keypoints` bodyparts from DeepLabCut predictions:
// an `.h5` (pandas table format, as DeepLabCut and posebatch write it: columns
// individuals x bodyparts x (x, y, likelihood), index = frame numbers or image paths) or a
// `.json` (a list per frame, or a mapping from image path, of poses [[x, y, score], ...]), or a
// `_assemblies.pickle` / `_full.pickle` of a video (poses kept when a keypoint's x, y and score
// are all > 0, as DeepLabCut's load_conditions_pickle).
// As DeepLabCut: from an .h5, keypoints with a NaN or negative value are zeroed and poses
// without a visible keypoint dropped; JSON poses are taken as given. Images are matched by
// path, else by file name. Throws Error naming the file and the problem.
std::unique_ptr<ConditionProvider> LoadConditions(const std::string& path, int64_t num_keypoints);

}  // namespace posebatch
