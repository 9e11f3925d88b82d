// Options for every posebatch component, with their defaults in place.
// Plain structs: copy them freely; thread-safety is that of any value type.
// Code: none (plain structs and one inline function).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace posebatch {

// A rectangle of the frame to analyse, in DeepLabCut's order x1,x2,y1,y2 (pixels, x2/y2
// exclusive). Coordinates in the output stay relative to the cropped image, as DeepLabCut's.
struct Crop {
  int x1 = 0;  // left edge, inclusive
  int x2 = 0;  // right edge, exclusive
  int y1 = 0;  // top edge, inclusive
  int y2 = 0;  // bottom edge, exclusive
  bool enabled() const { return x2 > x1 && y2 > y1; }
};

struct DecodeOptions {
  int64_t start_frame = 0;  // first frame to deliver (inclusive)
  int64_t stop_frame = -1;  // one past the last frame to deliver; -1 = to the end
  int decoder_threads = 1;  // FFmpeg frame threads; small so that inference keeps the cores
};

struct PreprocessOptions {
  Crop crop;  // region to analyse; disabled = the full frame
};

struct PipelineOptions {
  int batch_size = 8;           // frames (top-down: crops) per inference batch (DeepLabCut's default: 8)
  int detector_batch_size = 1;  // frames per detector batch (top-down; DeepLabCut's default: 1)
  int num_slots = 3;            // preallocated batch tensors: bounds memory and run-ahead
  int preprocess_workers = 1;   // threads that write frames into batch slots
  int decoded_frames = 6;       // decoded frames buffered between decode and preprocessing
  int result_batches = 4;       // finished batches buffered between inference and the writer
  int postprocess_workers = 1;  // threads running predictors and assembly, in parallel over batches
  bool async = true;            // false: run every stage in the calling thread, in turn
  int intra_op_threads = 0;     // LibTorch intra-op threads for inference; 0 = all cores
  int feeder_niceness = 10;     // nice value of decode/preprocess threads (0 = same as inference)
  bool pin_memory = false;      // page-locked batch slots, for asynchronous host-to-GPU copies
};

// Conditional top-down (CTD) tracking, as DeepLabCut's CTDTrackingConfig (same names and
// defaults): each frame's CTD poses, filtered, are the next frame's conditions; the
// conditions source (bottom-up model or file) starts the tracks and is run again by these rules.
struct CtdTrackingOptions {
  bool bu_on_lost_idv = true;      // rerun the conditions source while fewer tracks than individuals are kept
  int bu_min_frequency = -1;       // rerun it at least every N frames; -1 = never for that reason
  int bu_max_frequency = 100;      // ... but for lost tracks at most every N frames
  double threshold_bu_add = 0.25;  // a source pose joins the tracks when its best OKS to them is below this
  double threshold_ctd = 0.01;     // keypoints scoring at or below this are not passed on as conditions
  double threshold_nms = 0.9;      // OKS from which two tracks are one animal (the younger one is dropped)
  // Keep each track in its own output row. DeepLabCut 3.0.1 applies its row permutation the
  // wrong way round, which moves tracks between rows when a track lost before two kept ones
  // (3+ individuals); false = DeepLabCut's rows exactly.
  bool stable_rows = false;
};

struct ModelLoadOptions {
  std::string config_path;     // pytorch_config.yaml; empty = found beside the model
  std::string device = "cpu";  // "cpu" (or "cuda[:N]" where LibTorch has CUDA)
  std::string snapshot;        // training folder: snapshot file to use; empty = DeepLabCut's choice
  // Top-down training folder: the detector snapshot (snapshot-detector-*.pt) to use; empty =
  // DeepLabCut's choice (the project's detector_snapshotindex, else the best, else the last).
  std::string detector_snapshot;
  bool half = false;  // float16 weights and activations (GPU only; native networks)
  // Native networks in channels-last (NHWC) memory order: 1.2-1.3x faster on CPU, but oneDNN
  // then sums in another order. Unset = NHWC where that stays within 1e-3 px / 1e-4 in score of
  // DeepLabCut on every golden case (bottom-up and CTD models), NCHW, DeepLabCut's order
  // (scores within 1e-5), for top-down pose models (NHWC moved a golden score by 1.4e-4).
  std::optional<bool> channels_last;
  // "float32"; "bf16": bfloat16 weights and activations through oneDNN (native networks on a
  // CPU with AVX512-BF16 or AMX); "int8": the backbone's convolutions in int8 (per-channel
  // weights; activation ranges measured on the first frame; CPUs with VNNI or AMX). Elsewhere
  // float32, with a note. Faster, slightly less exact; heads stay float32.
  std::string precision = "float32";
};

// The options of a second model of the same run (a CTD run's conditions model): the same
// device, precision and layout; its config and snapshot found beside it.
inline ModelLoadOptions ForSecondModel(const ModelLoadOptions& first) {
  ModelLoadOptions o = first;
  o.config_path.clear();
  o.snapshot.clear();
  o.detector_snapshot.clear();
  return o;
}

}  // namespace posebatch
