// Result writers: DeepLabCut-compatible .h5 and .csv, written incrementally to a temporary
// file and renamed to the final name only when complete.
// Code: src/io/ (h5_writer.cc, csv_writer.cc, fan_out_writer.cc, layout.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace posebatch {

// The columns of DeepLabCut's prediction DataFrame.
struct ColumnLayout {
  std::string scorer;                         // first column level
  std::vector<std::string> individuals;       // empty: single-animal layout (no level)
  std::vector<std::string> bodyparts;         // per individual
  std::vector<std::string> unique_bodyparts;  // under individual "single" (multi-animal)

  // Level names: scorer, [individuals,] bodyparts, coords.
  std::vector<std::string> LevelNames() const;
  // One tuple per column, coords x, y, likelihood innermost, in DeepLabCut's order.
  std::vector<std::vector<std::string>> Columns() const;
  size_t NumColumns() const { return Columns().size(); }
};

// Not thread-safe: one writer thread drives it.
class PoseWriter {
 public:
  virtual ~PoseWriter() = default;
  // Appends one row. `values` holds NumColumns() floats (NaN for missing). For image runs
  // `label` is the row's index (the image path); for videos `index` is the frame number.
  virtual void Append(int64_t index, const std::string& label, const float* values) = 0;
  // Appends one float64 row (the tracked files), for writers made for float64 values (.h5
  // with H5WriterOptions::float64, .csv); others throw Error(kInternal).
  virtual void AppendDouble(int64_t index, const double* values);
  // Top-down runs: the boxes (x, y, w, h per box) and box scores behind the next Append's row.
  // Writers that keep no boxes ignore them.
  virtual void AppendBoxes(const std::vector<float>& /*boxes*/, const std::vector<float>& /*scores*/) {}
  // Flushes and makes the file visible under its final name. Throws Error on failure.
  virtual void Commit() = 0;
  // Removes the temporary file; the final name is left as it was. Never throws.
  virtual void Abort() noexcept = 0;
  virtual const std::string& final_path() const = 0;
};

struct H5WriterOptions {
  std::string key = "df_with_missing";  // HDF5 group (pandas key)
  size_t string_index_width = 0;        // >0: index is a string column of this many bytes
  int64_t flush_rows = 512;             // rows buffered before an append to the file
  bool float64 = false;                 // float64 values (the tracked files), rows by AppendDouble
};

// pandas "table" format, as df.to_hdf(path, key, format="table") writes it, float32 values
// (float64 with options.float64).
std::unique_ptr<PoseWriter> CreateH5Writer(const std::string& final_path, const ColumnLayout& layout,
                                           const H5WriterOptions& options);

// pandas' DataFrame.to_csv of the same DataFrame, byte for byte.
std::unique_ptr<PoseWriter> CreateCsvWriter(const std::string& final_path, const ColumnLayout& layout);

// DeepLabCut's multi-animal side files, built from the same rows as the .h5: <stem><scorer>
// _full.pickle (per frame, per bodypart: coordinates and confidences of every individual) and
// _assemblies.pickle (per frame, the animals found, as DeepLabCut's trackers read them). Rows
// are spooled to a temporary file, so memory stays flat; Commit writes both pickles.
struct FullPickleOptions {
  std::string full_path;        // <stem><scorer>_full.pickle
  std::string assemblies_path;  // <stem><scorer>_assemblies.pickle
  // The full pickle's "metadata" entry (DeepLabCut copies these from the project's pose_cfg).
  int nms_radius = -1;                      // "nms radius"; -1 writes None
  double min_confidence = -1;               // "minimal confidence"; < 0 writes None
  double sigma = 1;                         // "sigma"
  std::vector<std::vector<int64_t>> graph;  // "PAFgraph" (empty writes None)
  std::vector<int64_t> graph_inds;          // "PAFinds"
  bool with_boxes = false;                  // top-down: each frame also gets "bboxes" and "bbox_scores" (AppendBoxes)
  bool with_box_scores = true;              // false for CTD: "bboxes" only (its boxes come from conditions, unscored)
};
std::unique_ptr<PoseWriter> CreateFullPickleWriter(const ColumnLayout& layout, const FullPickleOptions& options);

// Forwards every call to several writers (commits all or aborts all).
std::unique_ptr<PoseWriter> CreateFanOutWriter(std::vector<std::unique_ptr<PoseWriter>> writers);

// numpy's repr of a float32 (what pandas writes for float32 columns): "219.7943", "1e-05",
// "1.0"; NaN becomes "" (pandas' default na_rep).
std::string FormatFloat32Like(float value);
// Python's repr of a float64 (pandas' float64 columns): "219.79429626464844"; NaN is "".
std::string FormatFloat64Like(double value);

}  // namespace posebatch
