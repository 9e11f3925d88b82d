#include "predict/crop_pose_decoder.h"

#include "posebatch/status.h"
#include "predict/simcc_predictor.h"

namespace posebatch {

CropPoseDecoder::CropPoseDecoder(const ModelSpec& spec)
    : head_(spec.pose_head), simcc_(spec.predictor == PredictorType::kSimCC), simcc_spec_(spec.simcc) {}

void CropPoseDecoder::Validate(const HeadOutputs& outputs, int rows) const {
  if (!simcc_) {
    ValidateHeatmapOutputs(outputs, head_, rows);
    return;
  }
  for (const char* name : {"x", "y"}) {
    auto head = outputs.find(head_.name);
    if (head == outputs.end() || head->second.count(name) == 0) {
      throw Error(Status::ModelError("pose network output has no " + head_.name + "/" + name));
    }
  }
}

at::Tensor CropPoseDecoder::Decode(const HeadOutputs& outputs) const {
  const auto& outs = outputs.at(head_.name);
  if (simcc_) return PredictSimCCPoses(outs.at("x"), outs.at("y"), simcc_spec_).contiguous();
  auto lr = outs.find("locref");
  return PredictHeatmapPoses(outs.at("heatmap"), lr == outs.end() ? at::Tensor() : lr->second, head_).contiguous();
}

}  // namespace posebatch
