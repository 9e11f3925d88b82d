// FramePredictor: RunPipeline over frames the caller holds in memory. The frames go through the
// same pipeline, preprocessing and predictors as a decoded video, so that a frame gets the
// numbers the .h5 of a video holding it has; only the source (a buffer) and the writer (rows
// kept in memory) differ.
#include "posebatch/frame_predictor.h"

#include <cstring>
#include <utility>

#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/pipeline.h"

namespace posebatch {
namespace {

// The caller's packed RGB24 frames, numbered 0..frames-1. An image-list source (is_video =
// false) to the pipeline: no container timeline, so no rows of NaN are ever made up.
class MemorySource : public FrameSource {
 public:
  MemorySource(const uint8_t* rgb, int64_t frames, int height, int width)
      : rgb_(rgb), frames_(frames), height_(height), width_(width) {
    info_.path = "frames in memory";  // what pipeline errors name
    info_.is_video = false;
    info_.width = width;
    info_.height = height;
    info_.frame_count = frames;
    info_.to_deliver = frames;
  }

  const SourceInfo& info() const override { return info_; }

  bool Next(Frame* frame) override {
    if (next_ >= frames_) return false;
    const size_t bytes = static_cast<size_t>(height_) * static_cast<size_t>(width_) * 3;
    frame->index = next_;
    frame->width = width_;
    frame->height = height_;
    frame->label.clear();
    // A copy: the pipeline normalizes from Frame::rgb, and the frames are small next to a
    // forward pass.
    frame->rgb.resize(bytes);
    std::memcpy(frame->rgb.data(), rgb_ + static_cast<size_t>(next_) * bytes, bytes);
    ++next_;
    return true;
  }

 private:
  const uint8_t* rgb_;
  int64_t frames_;
  int height_;
  int width_;
  int64_t next_ = 0;
  SourceInfo info_;
};

// Keeps the rows in frame order (the pipeline appends them in input order).
class CapturingWriter : public PoseWriter {
 public:
  CapturingWriter(size_t columns, std::vector<float>* values) : columns_(columns), values_(values) {}

  void Append(int64_t /*index*/, const std::string& /*label*/, const float* values) override {
    values_->insert(values_->end(), values, values + columns_);
    ++rows_;
  }
  void Commit() override {}
  void Abort() noexcept override {}
  const std::string& final_path() const override { return path_; }
  int64_t rows() const { return rows_; }

 private:
  size_t columns_;
  std::vector<float>* values_;
  int64_t rows_ = 0;
  std::string path_;
};

}  // namespace

struct FramePredictor::Impl {
  FramePredictorOptions options;
  Model model;
  Model conditions_model;  // CTD: loaded when options.conditions_model_path is set
  bool has_conditions_model = false;
  ColumnLayout layout;
  PipelineOptions pipeline;
};

FramePredictor::FramePredictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FramePredictor::~FramePredictor() = default;

Status FramePredictor::Open(const std::string& model_path, const FramePredictorOptions& options,
                            std::unique_ptr<FramePredictor>* predictor) {
  if (options.batch_size < 1 || options.detector_batch_size < 1 || options.intra_op_threads < 0) {
    return Status::InvalidArgument(
        "batch size and detector batch size must be >= 1, threads >= 0 (got " + std::to_string(options.batch_size) +
        ", " + std::to_string(options.detector_batch_size) + ", " + std::to_string(options.intra_op_threads) + ")");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  try {
    impl->model = LoadModel(model_path, options.model);
    const bool ctd = impl->model.spec.method == Method::kConditionalTopDown;
    ModeInputs inputs;
    inputs.conditions_model = !options.conditions_model_path.empty();
    const Status mode = CheckModeInputs(impl->model, inputs);
    if (!mode.ok()) return mode;
    if (ctd) {
      impl->conditions_model = LoadModel(options.conditions_model_path, ForSecondModel(options.model));
      impl->has_conditions_model = true;
    }
    impl->layout = LayoutFor(impl->model, DefaultScorer(impl->model), /*with_individuals=*/true);
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
  PipelineOptions& p = impl->pipeline;
  p.batch_size = options.batch_size;
  p.detector_batch_size = options.detector_batch_size;
  p.intra_op_threads = options.intra_op_threads;
  p.pin_memory = options.model.device != "cpu";
  // Every stage on the calling thread: a call then starts no threads (the process-wide
  // inference thread aside), which matters for live use, one frame at a time.
  p.async = false;
  predictor->reset(new FramePredictor(std::move(impl)));
  return Status::OK();
}

Status FramePredictor::Predict(const uint8_t* rgb, int64_t frames, int height, int width, FramePoses* poses) {
  if (poses == nullptr) return Status::InvalidArgument("Predict: no output given");
  poses->frames = 0;
  poses->values.clear();
  if (frames < 0 || (frames > 0 && (height < 1 || width < 1 || rgb == nullptr))) {
    return Status::InvalidArgument("frames must be height x width x 3 bytes with height, width >= 1 (got " +
                                   std::to_string(frames) + " frames of " + std::to_string(height) + " x " +
                                   std::to_string(width) + ")");
  }
  if (frames == 0) return Status::OK();
  try {
    const size_t columns = impl_->layout.NumColumns();
    poses->values.reserve(static_cast<size_t>(frames) * columns);
    MemorySource source(rgb, frames, height, width);
    CapturingWriter writer(columns, &poses->values);
    RunContext context;
    if (impl_->has_conditions_model) context.conditions_model = &impl_->conditions_model;
    RunStats stats;
    Status st = RunPipeline(impl_->model, source, writer, impl_->pipeline, PreprocessOptions{}, context, &stats);
    if (!st.ok()) {
      poses->values.clear();
      return st;
    }
    if (writer.rows() != frames) {
      poses->values.clear();
      return Status::Internal("the pipeline returned " + std::to_string(writer.rows()) + " rows for " +
                              std::to_string(frames) + " frames");
    }
    poses->frames = frames;
    return Status::OK();
  } catch (...) {
    poses->values.clear();
    return StatusFromCurrentException();
  }
}

const ColumnLayout& FramePredictor::layout() const { return impl_->layout; }

int64_t FramePredictor::num_individuals() const { return static_cast<int64_t>(impl_->layout.individuals.size()); }

int64_t FramePredictor::num_keypoints() const { return static_cast<int64_t>(impl_->layout.bodyparts.size()); }

int64_t FramePredictor::num_unique_keypoints() const {
  return static_cast<int64_t>(impl_->layout.unique_bodyparts.size());
}

}  // namespace posebatch
