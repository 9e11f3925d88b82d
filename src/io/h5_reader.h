// Reads DeepLabCut prediction files: the pandas "table" format that DeepLabCut (df.to_hdf(...,
// format="table")) and posebatch write, with the columns' names (MultiIndex scorer / [individuals
// /] bodyparts / coords) from the table's pickled attributes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posebatch {

struct PoseTable {
  std::string path;
  std::vector<std::string> level_names;           // e.g. scorer, bodyparts, coords
  std::vector<std::vector<std::string>> columns;  // one tuple per column, level_names.size() each
  std::vector<int64_t> index;                     // frame numbers (integer index), else empty
  std::vector<std::string> labels;                // image paths (string index), else empty
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> values;  // rows x cols, as stored (NaN kept)
  const double* Row(int64_t r) const { return values.data() + r * cols; }
};

// Reads the one pandas table of `path` (key df_with_missing, predictions, or any group with a
// `table`). `with_columns`: also parse the column names (else columns/level_names stay empty).
// Throws Error (kInvalidArgument / kNotFound) naming the file and the problem.
PoseTable ReadPoseTable(const std::string& path, bool with_columns = true);

}  // namespace posebatch
