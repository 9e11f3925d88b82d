// Poses for frames already in memory, with no file I/O: the embedded / live use (the role of
// DeepLabCut-Live). Every mode runs (bottom-up, top-down with the model's detector, CTD with a
// conditions model), on the same pipeline and predictors as Analyzer, so a frame gets the same
// numbers as the same frame decoded from a video.
//
// Errors: returns Status, never throws (status.h).
// Code: src/analyze/frame_predictor.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "posebatch/options.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch {

struct FramePredictorOptions {
  ModelLoadOptions model;             // config, snapshot, device, half, channels_last, precision
  int batch_size = 8;                 // frames (top-down: crops) per forward pass
  int detector_batch_size = 1;        // top-down: frames per detector pass; CTD: per conditions pass
  int intra_op_threads = 0;           // LibTorch threads; 0 = all cores
  std::string conditions_model_path;  // CTD: the bottom-up model whose poses are the conditions
};

// The poses of a batch of frames: rows x columns float32, one row per frame, the columns of
// layout() (individuals x bodyparts x (x, y, likelihood), then unique bodyparts), NaN where
// missing, in frame pixels.
struct FramePoses {
  int64_t frames = 0;
  std::vector<float> values;  // frames * NumColumns() values, row-major
};

// Not thread-safe: one Predict at a time (the network is not re-entrant).
class FramePredictor {
 public:
  static Status Open(const std::string& model_path, const FramePredictorOptions& options,
                     std::unique_ptr<FramePredictor>* predictor);
  ~FramePredictor();
  FramePredictor(const FramePredictor&) = delete;
  FramePredictor& operator=(const FramePredictor&) = delete;

  // `rgb`: `frames` packed RGB24 images of height x width (frames x height x width x 3 bytes).
  Status Predict(const uint8_t* rgb, int64_t frames, int height, int width, FramePoses* poses);

  // Columns of the rows: always with the individuals level (single-animal models: their one
  // individual, as LayoutFor(model, scorer, true)).
  const ColumnLayout& layout() const;
  int64_t num_individuals() const;       // rows of the (individuals, keypoints, 3) view
  int64_t num_keypoints() const;         // bodyparts per individual
  int64_t num_unique_keypoints() const;  // unique bodyparts (multi-animal projects), after them

 private:
  struct Impl;
  explicit FramePredictor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace posebatch
