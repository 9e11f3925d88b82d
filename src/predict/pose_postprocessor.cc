#include "predict/pose_postprocessor.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "posebatch/predictor.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

const at::Tensor& Output(const HeadOutputs& outputs, const std::string& head, const std::string& name) {
  auto h = outputs.find(head);
  if (h == outputs.end()) throw Error(Status::ModelError("model has no output head '" + head + "'"));
  auto o = h->second.find(name);
  if (o == h->second.end()) {
    throw Error(Status::ModelError("model head '" + head + "' has no '" + name + "' output"));
  }
  return o->second;
}

at::Tensor OptionalOutput(const HeadOutputs& outputs, const std::string& head, const std::string& name) {
  auto h = outputs.find(head);
  if (h == outputs.end()) return at::Tensor();
  auto o = h->second.find(name);
  return o == h->second.end() ? at::Tensor() : o->second;
}

// Copies x, y, score of `animals` rows of poses (N, K, C >= 3) into out (individuals, K, 3),
// padding missing individuals with -1 (DeepLabCut's PadOutputs).
void CopyAnimals(const float* poses, int64_t n, int64_t k, int64_t c, int64_t individuals, float* out) {
  const int64_t kept = std::min(n, individuals);
  for (int64_t a = 0; a < kept; ++a) {
    for (int64_t j = 0; j < k; ++j) {
      const float* src = poses + (a * k + j) * c;
      float* dst = out + (a * k + j) * 3;
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
    }
  }
  std::fill(out + kept * k * 3, out + individuals * k * 3, -1.0f);
}

}  // namespace

PosePostprocessor::PosePostprocessor(const ModelSpec& spec) : spec_(spec), multi_animal_(IsMultiAnimal(spec)) {
  if (spec.predictor == PredictorType::kSimCC) {
    throw Error(
        Status::ModelError(spec.config_path + ": predictor '" + PredictorName(spec.predictor) + "' cannot run yet"));
  }
  const size_t k = spec.bodyparts.size();
  if (multi_animal_) {
    individuals_ = static_cast<int64_t>(std::max<size_t>(1, spec.individuals.size()));
    num_columns_ = (static_cast<size_t>(individuals_) * k + spec.unique_bodyparts.size()) * 3;
  } else {
    num_columns_ = k * 3;
  }
}

// DeepLabCut's bottom-up postprocessing with identity: identity scores read at each keypoint
// (network-input pixels), poses and scores padded with -1 rows to the number of individuals
// (PadOutputs), then animal a placed at the row of the individual it most resembles
// (AssignIndividualIdentities).
at::Tensor PosePostprocessor::OrderByIdentity(const at::Tensor& poses, const at::Tensor& identity_heatmap) const {
  at::Tensor scores = PredictIdentityScores(identity_heatmap, poses, spec_.identity);
  at::Tensor padded = poses;
  if (poses.size(1) < individuals_) {
    const int64_t missing = individuals_ - poses.size(1);
    auto pad = [&](const at::Tensor& t) {
      std::vector<int64_t> shape = t.sizes().vec();
      shape[1] = missing;
      return at::cat({t, at::full(shape, -1.0, t.options())}, 1);
    };
    padded = pad(poses);
    scores = pad(scores);
  }
  return ReorderAnimals(padded, AssignIdentityOrder(padded, scores));
}

void PosePostprocessor::Validate(const HeadOutputs& outputs, int64_t batch) const {
  if (spec_.predictor == PredictorType::kDekr) {  // heatmaps carry a centre channel: checked by the predictor
    for (const char* name : {"heatmap", "offset"}) {
      const at::Tensor& t = Output(outputs, spec_.pose_head.name, name);
      if (t.dim() != 4 || t.size(0) != batch) {
        throw Error(Status::ModelError("model output '" + spec_.pose_head.name + "/" + name + "' is not a batch of " +
                                       std::to_string(batch) + " 4-d maps"));
      }
    }
    return;
  }
  ValidateHeatmapOutputs(outputs, spec_.pose_head, batch);
  if (spec_.predictor == PredictorType::kPartAffinityField) {
    const at::Tensor& paf = Output(outputs, spec_.pose_head.name, "paf");
    const at::Tensor& hm = outputs.at(spec_.pose_head.name).at("heatmap");
    const int64_t edges = static_cast<int64_t>(spec_.paf.graph.size());
    if (paf.dim() != 4 || paf.size(0) != batch || paf.size(1) != 2 * edges || paf.size(2) != hm.size(2) ||
        paf.size(3) != hm.size(3)) {
      throw Error(Status::ModelError("model output '" + spec_.pose_head.name + "/paf' has " +
                                     std::to_string(paf.dim()) + " dims / " + std::to_string(paf.size(1)) +
                                     " channels, expected [" + std::to_string(batch) + ", " +
                                     std::to_string(2 * edges) + " (2 x graph edges), H, W]"));
    }
  }
  if (!spec_.unique_bodyparts.empty()) ValidateHeatmapOutputs(outputs, spec_.unique_head, batch);
  if (spec_.with_identity) {
    const at::Tensor& id = Output(outputs, spec_.identity.name, "heatmap");
    if (id.dim() != 4 || id.size(0) != batch || id.size(1) != spec_.identity.num_individuals) {
      throw Error(Status::ModelError("model output '" + spec_.identity.name + "/heatmap' is not [" +
                                     std::to_string(batch) + ", " + std::to_string(spec_.identity.num_individuals) +
                                     " (individuals), H, W]"));
    }
  }
}

void PosePostprocessor::Process(const HeadOutputs& outputs, int64_t batch, float* rows) const {
  const HeatmapHeadSpec& head = spec_.pose_head;
  const at::Tensor& heatmap = outputs.at(head.name).at("heatmap");
  const at::Tensor locref = OptionalOutput(outputs, head.name, "locref");  // not DEKR's
  at::Tensor poses;                                                        // (B, N, K, C)
  if (spec_.predictor == PredictorType::kPartAffinityField) {
    poses = PredictPafPoses(heatmap, locref, outputs.at(head.name).at("paf"), spec_.paf);
    if (spec_.with_identity) poses = OrderByIdentity(poses, outputs.at(spec_.identity.name).at("heatmap"));
  } else if (spec_.predictor == PredictorType::kDekr) {
    poses = PredictDekrPoses(heatmap, outputs.at(head.name).at("offset"), spec_.dekr);
  } else {
    poses = PredictHeatmapPoses(heatmap, locref, head).unsqueeze(1);
  }
  poses = poses.contiguous();
  const int64_t n = poses.size(1), k = poses.size(2), c = poses.size(3);
  const float* p = poses.data_ptr<float>();
  at::Tensor unique;
  if (!spec_.unique_bodyparts.empty()) {
    const HeatmapHeadSpec& uh = spec_.unique_head;
    unique = PredictHeatmapPoses(outputs.at(uh.name).at("heatmap"), OptionalOutput(outputs, uh.name, "locref"), uh)
                 .contiguous();
  }
  for (int64_t b = 0; b < batch; ++b) {
    float* row = rows + b * static_cast<int64_t>(num_columns_);
    if (!multi_animal_) {
      CopyAnimals(p + b * n * k * c, n, k, c, 1, row);
      continue;
    }
    CopyAnimals(p + b * n * k * c, n, k, c, individuals_, row);
    if (unique.defined()) {
      const int64_t u = unique.size(1);
      const float* src = unique.data_ptr<float>() + b * u * 3;
      std::copy(src, src + u * 3, row + individuals_ * k * 3);
    }
  }
}

}  // namespace posebatch
