// The library entry point: analyse videos and images with a DeepLabCut model and write the files
// DeepLabCut writes (<stem><scorer>.h5, .csv, _meta.pickle, multi-animal pickles, _ctd.h5), as
// `posebatch analyze` does. The CLI and the Python package are thin layers over this header.
//
//   posebatch::AnalyzeOptions options;
//   options.save_csv = true;
//   std::unique_ptr<posebatch::Analyzer> analyzer;
//   posebatch::Status st = posebatch::Analyzer::Open("dlc-models-pytorch/.../train", options, &analyzer);
//   posebatch::AnalyzeResult result;
//   if (st.ok()) st = analyzer->Analyze({"videos/"}, &result);
//
// Errors: every function here returns a Status and never throws (status.h). A failed input
// does not stop the others: its InputResult carries the error and the run goes on; the Status
// returned is the first failure (or kCancelled).
// Code: src/analyze/analyze.cc (Analyzer), src/analyze/run_input.cc (one input), src/analyze/resume_plan.cc
//   (resume).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "posebatch/labeled_video.h"
#include "posebatch/options.h"
#include "posebatch/pipeline.h"
#include "posebatch/status.h"
#include "posebatch/tracking.h"

namespace posebatch {

// What a run tells while it goes: notes ("resuming from frame ..."), warnings (lost frames) and
// the model it loaded. The CLI prints them; the Python package forwards them to `logging`.
enum class MessageLevel {
  kInfo,     // what was loaded and how the run is set up (the CLI's --quiet hides these)
  kNote,     // a decision worth knowing: skipped, resumed, a journal replaced
  kWarning,  // something is wrong with an input but its outputs were written (lost frames)
};

struct InputResult;

// Called from the thread that called Analyze (messages) or from the pipeline's writer thread
// (progress); must be cheap and must not call back into the Analyzer.
struct AnalyzeCallbacks {
  std::function<void(MessageLevel, const std::string&)> on_message;            // may be empty
  std::function<void(const std::string& input, const Progress&)> on_progress;  // may be empty
  // An input starts running (after the skip / resume decision; frames_total -1 if unknown).
  std::function<void(const std::string& input, int64_t frames_total)> on_input_start;  // may be empty
  // An input is finished: analysed, skipped or failed (its result, as AnalyzeResult will hold it).
  std::function<void(const InputResult&)> on_input_done;  // may be empty
};

struct AnalyzeOptions {
  ModelLoadOptions model;  // config, snapshot, device, half, channels_last, precision (options.h)

  // The outputs.
  std::string dest_dir;    // output folder; empty = next to each input (created if missing)
  std::string scorer;      // scorer level of the outputs; empty = DeepLabCut's, from the model
  bool save_csv = false;   // also <stem><scorer>.csv
  bool overwrite = false;  // redo inputs whose outputs exist (default: skip them)
  bool resume = false;     // continue an interrupted video from its .resume journal

  // Labeled video (labeled_video.h): with labeled_video.enabled, each video also gets
  // <stem><scorer>_labeled.mp4, drawn and encoded in the same pass (frames decoded once).
  LabeledVideoOptions labeled_video;

  // What is analysed, and how.
  DecodeOptions decode;          // frame range; decoder threads
  PreprocessOptions preprocess;  // crop
  PipelineOptions pipeline;      // batch size, slots, workers, threads, async
  bool auto_batch_size = false;  // time a few batch sizes on the first input and keep the fastest

  // Top-down and conditional top-down inputs.
  std::string boxes_path;             // top-down: JSON boxes per frame instead of the detector
  std::string conditions_path;        // CTD: condition poses (.h5, .json, _assemblies/_full.pickle)
  std::string conditions_model_path;  // CTD: a bottom-up model whose poses are the conditions
  bool ctd_tracking = false;          // CTD: track (DeepLabCut's ctd_tracking); writes _ctd.h5
  CtdTrackingOptions tracking;        // CTD tracking settings
  // Multi-animal models (not with ctd_tracking): tracklets and stitching after each video's
  // assemblies, the tracked <base>_el.h5 (DeepLabCut's auto_track); also for videos skipped as
  // analysed whose tracked file is missing.
  bool auto_track = true;  // false: stop at the assemblies (DeepLabCut's auto_track=False)
  TrackOptions track;      // tracker and stitching settings (the .csv follows save_csv)

  const std::atomic<bool>* cancel = nullptr;  // set to stop (Ctrl-C): unfinished files removed
  // Set to stop gracefully: the running video goes on to its next resume-journal chunk (at most
  // 256 rows), keeps it for --resume, and no further input starts (a scheduler's time-limit
  // warning). May be null.
  const std::atomic<bool>* stop_at_checkpoint = nullptr;
  AnalyzeCallbacks callbacks;  // messages and progress; all may be empty
};

// What happened to one input (a video, or all the images of a run together).
struct InputResult {
  std::string input;                 // the video path, or "N images"
  Status status;                     // OK, or why this input failed (its partial files removed)
  bool skipped = false;              // its outputs existed and overwrite was off, or it was busy
  bool busy = false;                 // skipped: another process holds its lock (<base>.lock)
  std::vector<std::string> outputs;  // files written (.h5 first), in the order written
  int64_t rows = 0;                  // rows written (frames analysed + lost + resumed)
  int64_t resumed_rows = 0;          // rows taken from an interrupted run's journal
  RunStats stats;                    // this run's frames, lost ranges, damage, stage times
  // Frames could not be decoded (rows of NaN) or decoding stopped before the end of the file.
  bool lost_frames = false;
};

struct AnalyzeResult {
  std::string scorer;               // the scorer level written
  int batch_size = 0;               // the batch size used (auto's choice)
  std::vector<InputResult> inputs;  // in the order analysed
  bool interrupted = false;         // the cancel (or stop_at_checkpoint) flag stopped the run
  int failed() const;               // inputs whose status is not OK
  int with_lost_frames() const;     // inputs with lost_frames
};

// Loads a model once and analyses inputs with it. Thread-safe: calls from several threads take
// turns (one runs at a time). Safe
// across processes: a video being analysed is locked (<OutputBase>.lock, flock), and another
// process that meets it skips it as busy, so one video never has two writers.
class Analyzer {
 public:
  // Loads `model_path` (an export .pt, a snapshot .pt, a training folder, TorchScript) and what
  // the options name beside it (boxes, conditions, the conditions model). Checks the options.
  static Status Open(const std::string& model_path, const AnalyzeOptions& options, std::unique_ptr<Analyzer>* analyzer);
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // Videos, images and folders of them: each video gets its own outputs; the images together
  // (DeepLabCut's analyze_images: image_predictions_<scorer>.h5 in the first image's folder).
  Status Analyze(const std::vector<std::string>& inputs, AnalyzeResult* result);
  Status AnalyzeVideos(const std::vector<std::string>& videos, AnalyzeResult* result);
  Status AnalyzeImages(const std::vector<std::string>& images, AnalyzeResult* result);

  const Model& model() const;
  const std::string& scorer() const;  // the scorer level the outputs get

 private:
  struct Impl;
  explicit Analyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One call: Open, then Analyze.
Status Analyze(const std::string& model_path, const std::vector<std::string>& inputs, const AnalyzeOptions& options,
               AnalyzeResult* result);

// Splits inputs into videos and images: folders are listed (videos by extension, sorted; images
// in file-name order), files with an image extension are images, anything else a video. Fails
// for a folder without either, naming it.
Status ExpandInputs(const std::vector<std::string>& inputs, std::vector<std::string>* videos,
                    std::vector<std::string>* images);

// CTD tracking settings "key=value,..." with DeepLabCut's CTDTrackingConfig names
// (bu_on_lost_idv, bu_min_frequency, bu_max_frequency, threshold_bu_add, threshold_ctd,
// threshold_nms) and stable_rows, over *options. kInvalidArgument names the bad entry.
Status ParseCtdTrackingSettings(const std::string& text, CtdTrackingOptions* options);

// "<stem><scorer>" in `dest_dir` (empty: the video's folder): the base of a video's outputs.
std::string OutputBase(const std::string& video, const std::string& dest_dir, const std::string& scorer);

}  // namespace posebatch
