// Which columns of a DeepLabCut prediction row hold which keypoint: the individuals, bodyparts
// and the (x, y, likelihood) columns of each, from the MultiIndex column names.
#pragma once

#include <string>
#include <vector>

namespace posebatch::viz {

struct Keypoint {
  int individual = 0;                 // into PoseColumns::individuals
  int bodypart = 0;                   // into PoseColumns::bodyparts
  int x = 0, y = 0, likelihood = -1;  // columns; likelihood -1 when the file has none
};

struct PoseColumns {
  std::string scorer;
  bool multi_animal = false;                         // the file has an individuals level
  std::vector<std::string> individuals;              // {""} for single-animal files; "single" holds unique bodyparts
  std::vector<std::string> bodyparts;                // in order of first appearance (unique bodyparts last)
  std::vector<Keypoint> keypoints;                   // in column order
  int num_columns = 0;                               // values per row
  int BodypartIndex(const std::string& name) const;  // -1 if absent
};

// From the level names (scorer, [individuals,] bodyparts, coords) and one tuple per column.
// Throws Error (kInvalidArgument, prefixed with `origin`) when the levels are not DeepLabCut's.
PoseColumns ParsePoseColumns(const std::vector<std::string>& level_names,
                             const std::vector<std::vector<std::string>>& columns, const std::string& origin);

}  // namespace posebatch::viz
