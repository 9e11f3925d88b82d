#include "viz/pose_columns.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "posebatch/status.h"

namespace posebatch::viz {

int PoseColumns::BodypartIndex(const std::string& name) const {
  auto it = std::find(bodyparts.begin(), bodyparts.end(), name);
  return it == bodyparts.end() ? -1 : static_cast<int>(it - bodyparts.begin());
}

PoseColumns ParsePoseColumns(const std::vector<std::string>& level_names,
                             const std::vector<std::vector<std::string>>& columns, const std::string& origin) {
  auto bad = [&](const std::string& why) { throw Error(Status::InvalidArgument(origin + ": " + why)); };
  const size_t levels = level_names.size();
  if (levels != 3 && levels != 4) {
    bad("columns have " + std::to_string(levels) +
        " levels; DeepLabCut's have 3 (scorer, bodyparts, coords) or 4 (scorer, individuals, "
        "bodyparts, coords)");
  }
  PoseColumns pc;
  pc.multi_animal = levels == 4;
  if (!pc.multi_animal) pc.individuals = {""};
  // (individual, bodypart) -> its keypoint, filled coordinate by coordinate.
  std::map<std::pair<int, int>, size_t> found;
  for (size_t c = 0; c < columns.size(); ++c) {
    const auto& col = columns[c];
    if (pc.scorer.empty()) pc.scorer = col[0];
    int ind = 0;
    if (pc.multi_animal) {
      auto it = std::find(pc.individuals.begin(), pc.individuals.end(), col[1]);
      ind = static_cast<int>(it - pc.individuals.begin());
      if (it == pc.individuals.end()) pc.individuals.push_back(col[1]);
    }
    const std::string& bp = col[levels - 2];
    int b = pc.BodypartIndex(bp);
    if (b < 0) {
      pc.bodyparts.push_back(bp);
      b = static_cast<int>(pc.bodyparts.size()) - 1;
    }
    auto key = std::make_pair(ind, b);
    auto it = found.find(key);
    if (it == found.end()) {
      it = found.emplace(key, pc.keypoints.size()).first;
      pc.keypoints.push_back(Keypoint{ind, b, -1, -1, -1});
    }
    Keypoint& k = pc.keypoints[it->second];
    const std::string& coord = col[levels - 1];
    const int ci = static_cast<int>(c);
    if (coord == "x") {
      k.x = ci;
    } else if (coord == "y") {
      k.y = ci;
    } else if (coord == "likelihood") {
      k.likelihood = ci;
    } else {
      bad("unknown coordinate '" + coord + "' (expected x, y, likelihood)");
    }
  }
  for (const Keypoint& k : pc.keypoints) {
    if (k.x < 0 || k.y < 0) bad("bodypart '" + pc.bodyparts[static_cast<size_t>(k.bodypart)] + "' lacks x or y");
  }
  if (pc.keypoints.empty()) bad("no keypoint columns");
  pc.num_columns = static_cast<int>(columns.size());
  return pc;
}

}  // namespace posebatch::viz
