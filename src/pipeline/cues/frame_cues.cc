#include "pipeline/cues/frame_cues.h"

#include <ATen/ATen.h>

#include <cmath>

#include "posebatch/status.h"
#include "predict/pose_postprocessor.h"

namespace posebatch {
namespace {

class DetectorCues : public CueModel {
 public:
  explicit DetectorCues(Detector& detector) : detector_(detector) {}
  const InputSpec& input() const override { return detector_.spec().input; }
  InputLayout layout() const override { return InputLayout::kNCHW; }
  std::string what() const override { return "detector"; }
  std::vector<FrameCues> Run(const at::Tensor& batch) override {
    std::vector<Detections> found = detector_.Detect(batch);
    if (static_cast<int64_t>(found.size()) != batch.size(0)) {
      throw Error(Status::ModelError("detector returned " + std::to_string(found.size()) + " results for " +
                                     std::to_string(batch.size(0)) + " images"));
    }
    std::vector<FrameCues> out(found.size());
    for (size_t i = 0; i < found.size(); ++i) out[i].detections = std::move(found[i]);
    return out;
  }

 private:
  Detector& detector_;
};

class BottomUpConditionCues : public CueModel {
 public:
  BottomUpConditionCues(Model& model, int64_t k) : model_(model), postprocessor_(model.spec), k_(k) {
    if (model.spec.method != Method::kBottomUp) {
      throw Error(Status::InvalidArgument(model.path + ": the conditions model must be bottom-up (method '" +
                                          MethodName(model.spec.method) + "')"));
    }
    if (static_cast<int64_t>(model.spec.bodyparts.size()) != k) {
      throw Error(Status::InvalidArgument(model.path + ": the conditions model has " +
                                          std::to_string(model.spec.bodyparts.size()) + " bodyparts, the CTD model " +
                                          std::to_string(k)));
    }
    individuals_ = IsMultiAnimal(model.spec) ? static_cast<int64_t>(model.spec.individuals.size()) : 1;
  }
  const InputSpec& input() const override { return model_.spec.input; }
  InputLayout layout() const override { return model_.network->input_layout(); }
  std::string what() const override { return "conditions model"; }

  std::vector<FrameCues> Run(const at::Tensor& batch) override {
    const int64_t rows = batch.size(0);
    const HeadOutputs outputs = model_.network->Forward(batch);
    postprocessor_.Validate(outputs, rows);
    const size_t columns = postprocessor_.num_columns();
    std::vector<float> values(columns * static_cast<size_t>(rows));
    postprocessor_.Process(outputs, rows, values.data());
    std::vector<FrameCues> out(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      // The individuals come first in a row (unique bodyparts, if any, after them).
      const float* row = values.data() + static_cast<size_t>(r) * columns;
      std::vector<float> kept;
      for (int64_t i = 0; i < individuals_; ++i) {
        const float* pose = row + i * k_ * 3;
        bool visible = false;
        for (int64_t j = 0; j < k_ && !visible; ++j) {
          const float* p = pose + j * 3;
          visible = p[0] > 0 && p[1] > 0 && p[2] > 0;  // false for NaN too
        }
        if (visible) kept.insert(kept.end(), pose, pose + k_ * 3);
      }
      const int64_t n = static_cast<int64_t>(kept.size()) / (k_ * 3);
      out[static_cast<size_t>(r)].conditions = at::from_blob(kept.data(), {n, k_, 3}, at::kFloat).clone();
    }
    return out;
  }

 private:
  Model& model_;
  PosePostprocessor postprocessor_;
  int64_t k_;
  int64_t individuals_ = 1;
};

}  // namespace

std::unique_ptr<CueModel> MakeDetectorCues(Detector& detector) { return std::make_unique<DetectorCues>(detector); }

std::unique_ptr<CueModel> MakeBottomUpConditionCues(Model& bottom_up, int64_t num_keypoints) {
  return std::make_unique<BottomUpConditionCues>(bottom_up, num_keypoints);
}

}  // namespace posebatch
