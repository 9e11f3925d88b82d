// Boxes given per frame (top-down without a detector): a JSON or YAML mapping.
#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <vector>

#include "io/json_file.h"
#include "posebatch/pipeline.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

class BoxTable : public BoxProvider {
 public:
  Detections BoxesFor(int64_t index, const std::string& label) const override {
    auto it = label.empty() ? by_index_.find(std::to_string(index)) : by_index_.find(label);
    if (it == by_index_.end()) return Detections{at::zeros({0, 4}), at::zeros({0})};
    return it->second;
  }
  std::map<std::string, Detections> by_index_;  // frame number (as text) or image path
};

}  // namespace

std::unique_ptr<BoxProvider> LoadBoxes(const std::string& path) {
  const YAML::Node root = LoadJsonFile(path, "boxes", "JSON/YAML");
  if (!root.IsMap()) throw Error(Status::InvalidArgument(path + ": boxes must be a mapping from frame to boxes"));
  auto table = std::make_unique<BoxTable>();
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& list = entry.second;
    auto bad = [&](const std::string& why) {
      throw Error(Status::InvalidArgument(path + ": entry '" + key + "': " + why));
    };
    if (!list.IsSequence()) bad("expected a list of [x, y, w, h(, score)]");
    const int64_t n = static_cast<int64_t>(list.size());
    at::Tensor boxes = at::empty({n, 4}, at::kFloat), scores = at::ones({n}, at::kFloat);
    for (int64_t i = 0; i < n; ++i) {
      const YAML::Node& b = list[static_cast<size_t>(i)];
      if (!b.IsSequence() || (b.size() != 4 && b.size() != 5))
        bad("box " + std::to_string(i) + " is not [x, y, w, h(, score)]");
      try {
        for (int c = 0; c < 4; ++c) boxes[i][c] = b[static_cast<size_t>(c)].as<double>();
        if (b.size() == 5) scores[i] = b[4].as<double>();
      } catch (const YAML::Exception&) {
        bad("box " + std::to_string(i) + " holds a value that is not a number");
      }
    }
    table->by_index_[key] = Detections{boxes, scores};
  }
  return table;
}

}  // namespace posebatch
