// Analyzer: what `posebatch analyze` does, as a library. Model and side inputs are loaded once
// in Open; each input then runs through RunInput (run_input.h).
#include "posebatch/analyze.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <thread>

#include "analyze/run_input.h"
#include "common/heap_trace.h"
#include "common/stopwatch.h"
#include "io/resume_journal.h"
#include "model/device.h"
#include "posebatch/detector.h"
#include "predict/ctd_tracking.h"
#include "preprocess/normalize.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

// Any tracking setting off its default (analyze --track-method ..., Python's n_tracks=...).
bool TrackingAsked(const AnalyzeOptions& o) {
  const ConvertOptions& c = o.track.tracklets;
  const StitchOptions& s = o.track.stitch;
  const StitchOptions d;
  return !c.inference_config.empty() || !c.method.empty() || c.identity_only || s.n_tracks != d.n_tracks ||
         !s.animal_names.empty() || s.min_length != d.min_length || s.max_gap != d.max_gap ||
         s.split_tracklets != d.split_tracklets || s.prestitch_residuals != d.prestitch_residuals;
}

const char* kVideoExts[] = {".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".webm", ".wmv", ".flv", ".h264"};

bool IsVideoPath(const fs::path& p) {
  std::string ext = p.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* v : kVideoExts)
    if (ext == v) return true;
  return false;
}

Status CheckOptions(const AnalyzeOptions& o) {
  const PipelineOptions& p = o.pipeline;
  if ((!o.auto_batch_size && p.batch_size < 1) || p.detector_batch_size < 1 || p.preprocess_workers < 1 ||
      p.postprocess_workers < 1 || p.num_slots < 1 || p.intra_op_threads < 0) {
    return Status::InvalidArgument(
        "batch size, detector batch size, workers, post-workers and slots must be >= 1, threads >= 0");
  }
  if (o.decode.start_frame < 0 || (o.decode.stop_frame >= 0 && o.decode.stop_frame < o.decode.start_frame)) {
    return Status::InvalidArgument("frame range " + std::to_string(o.decode.start_frame) + ":" +
                                   std::to_string(o.decode.stop_frame) + " is empty or negative");
  }
  const Crop& c = o.preprocess.crop;
  const bool crop_given = c.x1 != 0 || c.x2 != 0 || c.y1 != 0 || c.y2 != 0;
  if (crop_given && (!c.enabled() || c.x1 < 0 || c.y1 < 0)) {
    return Status::InvalidArgument("crop expects x1 < x2, y1 < y2, all >= 0");
  }
  if (!o.conditions_path.empty() && !o.conditions_model_path.empty()) {
    return Status::InvalidArgument("give conditions or a conditions model, not both");
  }
  return Status::OK();
}

}  // namespace

int AnalyzeResult::failed() const {
  return static_cast<int>(
      std::count_if(inputs.begin(), inputs.end(), [](const InputResult& r) { return !r.status.ok(); }));
}

int AnalyzeResult::with_lost_frames() const {
  return static_cast<int>(
      std::count_if(inputs.begin(), inputs.end(), [](const InputResult& r) { return r.lost_frames; }));
}

std::string OutputBase(const std::string& video, const std::string& dest_dir, const std::string& scorer) {
  const fs::path vp(video);
  const fs::path dir = dest_dir.empty() ? vp.parent_path() : fs::path(dest_dir);
  return (dir / (vp.stem().string() + scorer)).string();
}

Status ExpandInputs(const std::vector<std::string>& inputs, std::vector<std::string>* videos,
                    std::vector<std::string>* images) {
  try {
    for (const auto& in : inputs) {
      std::error_code ec;
      if (fs::is_directory(in, ec)) {
        std::vector<std::string> vids;
        for (const auto& e : fs::directory_iterator(in))
          if (e.is_regular_file() && IsVideoPath(e.path())) vids.push_back(e.path().string());
        std::sort(vids.begin(), vids.end());
        auto imgs = ListImages(in);
        if (vids.empty() && imgs.empty()) return Status::NotFound(in + ": folder holds no videos or images");
        videos->insert(videos->end(), vids.begin(), vids.end());
        images->insert(images->end(), imgs.begin(), imgs.end());
      } else if (IsImagePath(in)) {
        images->push_back(in);
      } else {
        videos->push_back(in);  // anything else is tried as a video; errors name it
      }
    }
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

Status ParseCtdTrackingSettings(const std::string& text, CtdTrackingOptions* options) {
  try {
    ParseCtdTrackingOptions(text, options);
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kInvalidArgument);
  }
}

struct Analyzer::Impl {
  // Held by AnalyzeVideos and AnalyzeImages: calls from two threads (the Python package releases
  // the GIL) take turns instead of resetting one network's int8 ranges under the other's forward.
  std::mutex calls;
  AnalyzeOptions options;
  Model model;
  Model conditions_model;  // loaded when options.conditions_model_path is set
  std::unique_ptr<BoxProvider> boxes;
  std::unique_ptr<ConditionProvider> conditions;
  std::string scorer;
  bool batch_chosen = false;       // the batch size is fixed (given, or auto has run)
  std::string model_fingerprint;   // of the weights file, for resume journals; computed once
  std::atomic<bool> never{false};  // the cancel flag when the caller gives none

  void Say(MessageLevel level, const std::string& text) const {
    if (options.callbacks.on_message) options.callbacks.on_message(level, text);
  }
  const std::atomic<bool>& cancel() const { return options.cancel != nullptr ? *options.cancel : never; }
  bool stop_requested() const { return options.stop_at_checkpoint != nullptr && options.stop_at_checkpoint->load(); }
  RunInputContext Context();
  Status ChooseBatch(const std::string& probe_path, bool is_video);
  void SayRunLine() const;
};

RunInputContext Analyzer::Impl::Context() {
  RunInputContext c;
  c.model = &model;
  c.options = &options;
  c.scorer = &scorer;
  c.boxes = boxes.get();
  c.conditions = conditions.get();
  c.conditions_model = options.conditions_model_path.empty() ? nullptr : &conditions_model;
  c.cancel = &cancel();
  c.say = [this](MessageLevel level, const std::string& text) { Say(level, text); };
  return c;
}

// Auto batch size: a few forward passes at the first input's size; the fastest is kept.
Status Analyzer::Impl::ChooseBatch(const std::string& probe_path, bool is_video) {
  if (batch_chosen) return Status::OK();
  try {
    std::unique_ptr<FrameSource> probe = is_video ? OpenVideo(probe_path, DecodeOptions{}) : OpenImages({probe_path});
    const SourceInfo& info = probe->info();
    const InputGeometry g = ComputeGeometry(info.width, info.height, options.preprocess, model.spec.input, info.path);
    const std::vector<int> candidates =
        options.model.device == "cpu" ? std::vector<int>{1, 2, 4, 8} : std::vector<int>{1, 2, 4, 8, 16, 32, 64};
    std::string report;
    options.pipeline.batch_size =
        ChooseBatchSize(model, g.width, g.height, candidates, options.pipeline.intra_op_threads, &report);
    Say(MessageLevel::kInfo, "batch size auto: " + report + " -> " + std::to_string(options.pipeline.batch_size));
    batch_chosen = true;
    SayRunLine();
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

void Analyzer::Impl::SayRunLine() const {
  const PipelineOptions& p = options.pipeline;
  const int threads =
      p.intra_op_threads > 0 ? p.intra_op_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Say(MessageLevel::kInfo, "scorer: " + scorer + " | batch " + std::to_string(p.batch_size) + " | " +
                               (p.async ? "async" : "sequential") + " | inference threads " + std::to_string(threads) +
                               " | preprocess workers " + std::to_string(p.preprocess_workers));
}

Analyzer::Analyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Analyzer::~Analyzer() = default;

Status Analyzer::Open(const std::string& model_path, const AnalyzeOptions& options,
                      std::unique_ptr<Analyzer>* analyzer) {
  Status st = CheckOptions(options);
  if (!st.ok()) return st;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  AnalyzeOptions& o = impl->options;
  o.pipeline.pin_memory = o.model.device != "cpu";
  try {
    if (!o.dest_dir.empty()) {
      std::error_code ec;
      fs::create_directories(o.dest_dir, ec);
      if (!fs::is_directory(o.dest_dir)) return Status::IOError(o.dest_dir + ": cannot create destination folder");
    }
    if (!o.boxes_path.empty()) {
      try {
        impl->boxes = LoadBoxes(o.boxes_path);
      } catch (const Error& e) {  // a bad file given for an option: a usage error
        return Status::InvalidArgument(e.status().message());
      }
    }
    Stopwatch load;
    impl->model = LoadModel(model_path, o.model);
    const ModelSpec& spec = impl->model.spec;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", load.Seconds());
    std::string stride = std::to_string(spec.pose_head.stride);
    stride.erase(stride.find_last_not_of('0') + 1);
    if (!stride.empty() && stride.back() == '.') stride.pop_back();
    impl->Say(MessageLevel::kInfo, "model: " + impl->model.network->Describe() + " (" +
                                       std::to_string(spec.bodyparts.size()) + " bodyparts, stride " + stride +
                                       ") loaded in " + seconds + " s");
    if (impl->model.detector) impl->Say(MessageLevel::kInfo, "detector: " + impl->model.detector->Describe());
    if ((o.model.precision == "bf16" || o.model.precision == "int8") &&
        impl->model.network->precision() != o.model.precision) {
      const bool bf16 = o.model.precision == "bf16";
      impl->Say(MessageLevel::kNote,
                "--precision " + o.model.precision + ": " +
                    (o.model.device != "cpu"
                         ? std::string(bf16 ? "bfloat16" : "int8") + " is a CPU mode here (use --half on a GPU)"
                     : bf16 && !CpuSupportsBFloat16()       ? "this CPU has neither AVX512-BF16 nor AMX"
                     : !bf16 && !CpuSupportsInt8()          ? "this CPU has no VNNI (AVX512-VNNI, AVX-VNNI) nor AMX"
                     : !bf16 && !QuantizedOneDnnAvailable() ? "this LibTorch has no oneDNN quantized engine"
                     : spec.method == Method::kConditionalTopDown ? "not available for CTD models yet"
                                                                  : "not available for this model") +
                    "; running float32");
    }
    const bool ctd = spec.method == Method::kConditionalTopDown;
    ModeInputs inputs;
    inputs.boxes = !o.boxes_path.empty();
    inputs.conditions = !o.conditions_path.empty();
    inputs.conditions_model = !o.conditions_model_path.empty();
    inputs.ctd_tracking = o.ctd_tracking;
    const Status mode = CheckModeInputs(impl->model, inputs);
    if (!mode.ok()) return mode;
    if (o.auto_batch_size && ctd) {
      return Status::InvalidArgument("--batch-size auto is not supported with CTD models yet; give a number");
    }
    if (!o.conditions_path.empty()) {
      impl->conditions = LoadConditions(o.conditions_path, static_cast<int64_t>(spec.bodyparts.size()));
    }
    if (!o.conditions_model_path.empty()) {
      impl->conditions_model = LoadModel(o.conditions_model_path, ForSecondModel(o.model));
      impl->Say(MessageLevel::kInfo, "conditions model: " + impl->conditions_model.network->Describe());
    }
    impl->scorer = o.scorer.empty() ? DefaultScorer(impl->model) : o.scorer;
    if (!IsMultiAnimal(spec) && TrackingAsked(o)) {
      impl->Say(MessageLevel::kNote,
                "the tracking options are ignored: a single-animal model has one animal per frame, nothing to track");
    }
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
  impl->batch_chosen = !o.auto_batch_size;
  if (impl->batch_chosen) impl->SayRunLine();
  analyzer->reset(new Analyzer(std::move(impl)));
  return Status::OK();
}

const Model& Analyzer::model() const { return impl_->model; }
const std::string& Analyzer::scorer() const { return impl_->scorer; }

Status Analyzer::Analyze(const std::vector<std::string>& inputs, AnalyzeResult* result) {
  std::vector<std::string> videos, images;
  Status st = ExpandInputs(inputs, &videos, &images);
  if (!st.ok()) return st;
  if (!videos.empty()) st = AnalyzeVideos(videos, result);
  if (st.code() == StatusCode::kCancelled) return st;
  if (!images.empty()) {
    Status images_status = AnalyzeImages(images, result);
    if (st.ok()) st = images_status;
  }
  return st;
}

Status Analyzer::AnalyzeVideos(const std::vector<std::string>& videos, AnalyzeResult* result) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> one_call_at_a_time(m.calls);
  result->scorer = m.scorer;
  if (!videos.empty()) {
    Status st = m.ChooseBatch(videos.front(), /*is_video=*/true);
    if (!st.ok()) return st;
  }
  result->batch_size = m.options.pipeline.batch_size;
  Status first_failure;
  for (const auto& video : videos) {
    if (m.cancel().load() || m.stop_requested()) break;
    try {
      if (m.model_fingerprint.empty()) m.model_fingerprint = FingerprintFile(m.model.weights_path);
    } catch (...) {
      return StatusFromCurrentException(StatusCode::kIOError);
    }
    InputResult r = RunVideo(m.Context(), video, m.model_fingerprint);
    TraceHeap("input", static_cast<int64_t>(result->inputs.size()) + 1, /*release_free_lists=*/true);
    if (m.options.callbacks.on_input_done) m.options.callbacks.on_input_done(r);
    if (!r.status.ok() && first_failure.ok()) first_failure = r.status;
    const bool cancelled = r.status.code() == StatusCode::kCancelled;
    result->inputs.push_back(std::move(r));
    if (cancelled) break;
  }
  result->interrupted = m.cancel().load() || m.stop_requested();
  if (result->interrupted) return Status::Cancelled("interrupted");
  return first_failure;
}

Status Analyzer::AnalyzeImages(const std::vector<std::string>& images, AnalyzeResult* result) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> one_call_at_a_time(m.calls);
  result->scorer = m.scorer;
  if (images.empty() || m.cancel().load()) {
    result->interrupted = m.cancel().load();
    return result->interrupted ? Status::Cancelled("interrupted") : Status::OK();
  }
  Status st = m.ChooseBatch(images.front(), /*is_video=*/false);
  if (!st.ok()) return st;
  result->batch_size = m.options.pipeline.batch_size;
  InputResult r = RunImages(m.Context(), images);
  if (m.options.callbacks.on_input_done) m.options.callbacks.on_input_done(r);
  st = r.status;
  result->inputs.push_back(std::move(r));
  result->interrupted = m.cancel().load();
  if (result->interrupted) return Status::Cancelled("interrupted");
  return st;
}

Status Analyze(const std::string& model_path, const std::vector<std::string>& inputs, const AnalyzeOptions& options,
               AnalyzeResult* result) {
  std::unique_ptr<Analyzer> analyzer;
  Status st = Analyzer::Open(model_path, options, &analyzer);
  if (!st.ok()) return st;
  return analyzer->Analyze(inputs, result);
}

}  // namespace posebatch
