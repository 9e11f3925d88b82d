// From a batch's head outputs to output rows: the predictor the config names, then
// DeepLabCut's bottom-up postprocessing (individuals padded with -1, unique bodyparts after
// them), in the column order of LayoutFor().
#pragma once

#include <cstddef>
#include <cstdint>

#include "posebatch/model.h"

namespace posebatch {

// Immutable after construction: Validate and Process may run on several threads at once.
class PosePostprocessor {
 public:
  // Throws Error (kModelError) for a predictor it does not run.
  explicit PosePostprocessor(const ModelSpec& spec);

  // Floats per output row: individuals x bodyparts x 3 (+ unique bodyparts x 3), or
  // bodyparts x 3 for single-animal models.
  size_t num_columns() const { return num_columns_; }

  // Checks that `outputs` hold what the predictor needs for a batch of `batch` rows; throws
  // Error (kModelError) naming the output and its expected shape otherwise.
  void Validate(const HeadOutputs& outputs, int64_t batch) const;

  // Writes `batch` rows of num_columns() floats to `rows` (row-major), in network-input
  // pixels. Bottom-up inputs are the frame itself (padded bottom/right), so no mapping is needed.
  void Process(const HeadOutputs& outputs, int64_t batch, float* rows) const;

 private:
  at::Tensor OrderByIdentity(const at::Tensor& poses, const at::Tensor& identity_heatmap) const;

  const ModelSpec& spec_;
  bool multi_animal_ = false;
  int64_t individuals_ = 1;  // rows of animals per frame in the output
  size_t num_columns_ = 0;
};

}  // namespace posebatch
