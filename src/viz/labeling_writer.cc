#include "viz/labeling_writer.h"

#include <cstring>
#include <exception>
#include <thread>

#include "pipeline/kit/bounded_queue.h"
#include "pipeline/kit/stage_threads.h"
#include "posebatch/status.h"
#include "viz/label_renderer.h"

namespace posebatch::viz {

void FrameStash::Put(const Frame& frame) {
  Entry e;
  e.index = frame.index;
  e.width = frame.width;
  e.height = frame.height;
  const size_t bytes = static_cast<size_t>(frame.width) * frame.height * 3;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      e.rgb = std::move(free_.back());
      free_.pop_back();
    } else {
      ++buffers_;
    }
  }
  e.rgb.resize(bytes);  // a frame's size only changes between image files, never within a video
  std::memcpy(e.rgb.data(), frame.rgb.data(), bytes);
  std::lock_guard<std::mutex> lock(mu_);
  held_.push_back(std::move(e));
  peak_ = std::max(peak_, held_.size());
}

bool FrameStash::Take(int64_t index, Entry* out) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!held_.empty() && held_.front().index < index) {
    free_.push_back(std::move(held_.front().rgb));
    held_.pop_front();
  }
  if (held_.empty() || held_.front().index != index) return false;
  *out = std::move(held_.front());
  held_.pop_front();
  return true;
}

void FrameStash::Recycle(Entry&& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(entry.rgb));
}

size_t FrameStash::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.size();
}
size_t FrameStash::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}
size_t FrameStash::buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_;
}

namespace {

class TeeSource : public FrameSource {
 public:
  TeeSource(FrameSource& inner, std::shared_ptr<FrameStash> stash) : inner_(inner), stash_(std::move(stash)) {}
  const SourceInfo& info() const override { return inner_.info(); }
  bool Next(Frame* frame) override {
    if (!inner_.Next(frame)) return false;
    stash_->Put(*frame);
    return true;
  }
  StreamEnd End() const override { return inner_.End(); }

 private:
  FrameSource& inner_;
  std::shared_ptr<FrameStash> stash_;
};

// Draws and encodes on a thread of its own at the feeders' lower priority (nice 10, as decode
// and preprocess): at normal priority the encoder preempted an inference thread in the middle of
// its OpenMP team's work, and batch-1 ResNet-50 lost 70% of its speed for 8 ms of encoding per
// frame. The writer stage only hands each frame's copy and row over (a bounded queue).
class LabelingWriter : public PoseWriter {
 public:
  LabelingWriter(const std::string& path, PoseDrawer drawer, const RendererOptions& ro,
                 std::shared_ptr<FrameStash> stash)
      : path_(path), renderer_(std::move(drawer), path, ro), stash_(std::move(stash)), jobs_(kQueued) {
    thread_ = std::thread([this] { EncodeLoop(); });
  }
  ~LabelingWriter() override { Stop(/*cancel=*/true); }

  void AppendBoxes(const std::vector<float>& boxes, const std::vector<float>&) override {
    boxes_ = boxes;
    has_boxes_ = true;
  }

  void Append(int64_t index, const std::string&, const float* values) override {
    Job job;
    const bool has_frame = stash_->Take(index, &job.frame);
    const bool has_boxes = has_boxes_;
    has_boxes_ = false;
    if (!has_frame) return;  // a lost frame (row of NaN) or a replayed one: no pixels
    job.row.assign(values, values + renderer_.drawer().columns().num_columns);
    if (has_boxes) job.boxes = boxes_;
    job.has_boxes = has_boxes;
    if (!jobs_.Push(std::move(job))) {  // the encoder stopped: say why
      RethrowEncodeError();
      throw Error(Status::Internal(path_ + ": the labeled video's encoder stopped"));
    }
  }

  void Commit() override {
    Stop(/*cancel=*/false);
    RethrowEncodeError();
    renderer_.Finish();
  }
  void Abort() noexcept override {
    Stop(/*cancel=*/true);
    renderer_.Abort();
  }
  const std::string& final_path() const override { return path_; }
  const std::string& encoder_note() const { return renderer_.encoder().fallback_note(); }

 private:
  static constexpr size_t kQueued = 4;  // frames waiting for the encoder (each a frame's copy)
  struct Job {
    FrameStash::Entry frame;
    std::vector<double> row;
    std::vector<float> boxes;
    bool has_boxes = false;
  };

  void EncodeLoop() {
    LowerThreadPriority(10);
    Job job;
    while (jobs_.Pop(&job)) {
      try {
        renderer_.Add(job.frame.rgb.data(), job.row.data(), job.has_boxes ? &job.boxes : nullptr);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = std::current_exception();
        jobs_.Cancel();  // the writer's next Append or Commit reports it
        return;
      }
      stash_->Recycle(std::move(job.frame));
    }
  }
  void Stop(bool cancel) {
    if (!thread_.joinable()) return;
    if (cancel) {
      jobs_.Cancel();
    } else {
      jobs_.Close();  // the encoder drains what is queued
    }
    thread_.join();
  }
  void RethrowEncodeError() {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) std::rethrow_exception(error_);
  }

  std::string path_;
  LabelRenderer renderer_;
  std::shared_ptr<FrameStash> stash_;
  BoundedQueue<Job> jobs_;
  std::thread thread_;
  std::mutex mu_;
  std::exception_ptr error_;
  std::vector<float> boxes_;
  bool has_boxes_ = false;
};

}  // namespace

std::unique_ptr<FrameSource> TeeFrames(FrameSource& inner, std::shared_ptr<FrameStash> stash) {
  return std::make_unique<TeeSource>(inner, std::move(stash));
}

RendererOptions RendererOptionsFor(const SourceInfo& info, const LabeledVideoOptions& options, const Crop& crop) {
  RendererOptions ro;
  ro.width = info.width;
  ro.height = info.height;
  ro.fps = info.fps;
  ro.crf = options.crf;
  if (crop.enabled()) {  // coordinates are relative to the crop (DeepLabCut's); drawn on the full
                         // frame
    ro.offset_x = crop.x1;
    ro.offset_y = crop.y1;
  }
  return ro;
}

std::unique_ptr<PoseWriter> CreateLabelingWriter(const std::string& path, const ColumnLayout& layout,
                                                 const SourceInfo& info, const LabeledVideoOptions& options,
                                                 const std::string& model_config_text, const Crop& crop,
                                                 std::shared_ptr<FrameStash> stash, std::vector<std::string>* notes) {
  PoseColumns columns = ParsePoseColumns(layout.LevelNames(), layout.Columns(), path);
  DrawStyle style = ResolveStyle(options, ResolveProjectSettings(options, model_config_text), columns, notes);
  const RendererOptions ro = RendererOptionsFor(info, options, crop);
  auto writer =
      std::make_unique<LabelingWriter>(path, PoseDrawer(std::move(columns), std::move(style)), ro, std::move(stash));
  if (notes != nullptr && !writer->encoder_note().empty()) notes->push_back(writer->encoder_note());
  return writer;
}

LabeledPass AddLabeledPass(FrameSource& inner, const std::string& path, const ColumnLayout& layout,
                           const LabeledVideoOptions& options, const std::string& model_config_text, const Crop& crop,
                           std::vector<std::string>* notes) {
  auto stash = std::make_shared<FrameStash>();
  LabeledPass pass;
  pass.source = TeeFrames(inner, stash);
  pass.writer = CreateLabelingWriter(path, layout, inner.info(), options, model_config_text, crop, stash, notes);
  return pass;
}

}  // namespace posebatch::viz
