// The pipeline end to end on real decoded video and a real TorchScript model: identical
// results whatever the batch size, mode and worker count; order; errors reported once.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "posebatch/pipeline.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;

struct Row {
  int64_t index;
  std::string label;
  std::vector<float> values;
};

// Captures rows in memory; optionally fails at a given row.
class CaptureWriter : public PoseWriter {
 public:
  explicit CaptureWriter(size_t ncols, int64_t fail_at = -1) : ncols_(ncols), fail_at_(fail_at) {}
  void Append(int64_t index, const std::string& label, const float* values) override {
    if (index == fail_at_) throw Error(Status::IOError("disk full (simulated)"));
    rows.push_back({index, label, std::vector<float>(values, values + ncols_)});
  }
  void Commit() override {}
  void Abort() noexcept override {}
  const std::string& final_path() const override { return path_; }
  std::vector<Row> rows;

 private:
  size_t ncols_;
  int64_t fail_at_;
  std::string path_ = "memory";
};

// Inference threads for every run here: POSEBATCH_TEST_THREADS, default 2. The TSan job
// sets 1 so that LibTorch runs no OpenMP region (TSan cannot see OpenMP's synchronisation).
int TestThreads() {
  const char* v = std::getenv("POSEBATCH_TEST_THREADS");
  return v != nullptr ? std::atoi(v) : 2;
}

PipelineOptions Opts() {
  PipelineOptions o;
  o.intra_op_threads = TestThreads();
  return o;
}

Model LoadFixtureModel(const std::string& name) { return LoadModel(Fixture("models/" + name), ModelLoadOptions{}); }

std::vector<Row> RunVideo(Model& model, const PipelineOptions& opt, const DecodeOptions& dec = {},
                          Status* status_out = nullptr) {
  auto src = OpenVideo(Fixture("videos/index_h264.mp4"), dec);
  CaptureWriter w(model.spec.bodyparts.size() * 3);
  RunStats stats;
  Status st = RunPipeline(model, *src, w, opt, PreprocessOptions{}, RunContext{}, &stats);
  if (status_out)
    *status_out = st;
  else
    EXPECT_TRUE(st.ok()) << st.ToString();
  if (st.ok()) {
    EXPECT_EQ(stats.frames, static_cast<int64_t>(w.rows.size()));
  }
  return w.rows;
}

// First in this binary, so that every pipeline test after it (under TSan too) runs with the
// large-block cache installed, as the CLI runs.
TEST(Allocator, LargeBlocksAreReusedSmallOnesLeftToLibTorch) {
  TuneAllocatorForInference();
  TuneAllocatorForInference();                  // once per process; a second call changes nothing
  const int64_t big = (int64_t{64} << 20) / 4;  // 64 MiB of float: above glibc's 32 MiB
  void* first = nullptr;
  {
    at::Tensor a = at::empty({big});
    a.fill_(1);
    first = a.data_ptr();
  }
  at::Tensor again = at::empty({big});
  EXPECT_EQ(again.data_ptr(), first) << "a freed block of the same size is handed out again";
  at::Tensor another = at::empty({big});
  EXPECT_NE(another.data_ptr(), first) << "a block in use is not handed out twice";
  another.fill_(2);
  again.fill_(3);
  EXPECT_EQ(another.sum().item<double>(), 2.0 * big);
  EXPECT_EQ(at::empty({big + 1}).data_ptr() == first, false);
  // LibTorch's raw allocations (freed through raw_deleter) of either size.
  c10::Allocator* alloc = c10::GetCPUAllocator();
  for (size_t bytes : {size_t{100}, size_t{48} << 20}) {
    void* p = alloc->raw_allocate(bytes);
    std::memset(p, 7, bytes);
    alloc->raw_deallocate(p);
  }
  EXPECT_EQ(at::ones({10}).sum().item<float>(), 10.0f);
}

TEST(Pipeline, IdenticalAcrossBatchSizesModesAndWorkers) {
  Model model = LoadFixtureModel("good");
  PipelineOptions base = Opts();
  base.batch_size = 1;
  base.async = false;
  base.intra_op_threads = TestThreads();
  std::vector<Row> reference = RunVideo(model, base);
  ASSERT_EQ(reference.size(), 75u);
  for (size_t i = 0; i < reference.size(); ++i) ASSERT_EQ(reference[i].index, static_cast<int64_t>(i));
  // The model is not constant: keypoints move between frames.
  EXPECT_NE(reference[0].values, reference[40].values);

  for (int batch : {1, 3, 8, 64}) {
    for (bool async : {false, true}) {
      for (int workers : {1, 3}) {
        if (!async && workers > 1) continue;
        PipelineOptions opt = base;
        opt.batch_size = batch;
        opt.async = async;
        opt.preprocess_workers = workers;
        opt.num_slots = 2;
        auto rows = RunVideo(model, opt);
        ASSERT_EQ(rows.size(), reference.size()) << "batch " << batch;
        for (size_t i = 0; i < rows.size(); ++i) {
          ASSERT_EQ(rows[i].index, reference[i].index);
          ASSERT_EQ(
              0, std::memcmp(rows[i].values.data(), reference[i].values.data(), rows[i].values.size() * sizeof(float)))
              << "batch " << batch << " async " << async << " workers " << workers << " frame " << i;
        }
      }
    }
  }
}

TEST(Pipeline, FrameRange) {
  Model model = LoadFixtureModel("good");
  PipelineOptions opt = Opts();
  opt.batch_size = 4;
  DecodeOptions dec;
  dec.start_frame = 5;
  dec.stop_frame = 20;
  auto rows = RunVideo(model, opt, dec);
  ASSERT_EQ(rows.size(), 15u);
  EXPECT_EQ(rows.front().index, 5);
  EXPECT_EQ(rows.back().index, 19);
  PipelineOptions seq = opt;
  seq.async = false;
  seq.batch_size = 1;
  auto full = RunVideo(model, seq);
  for (const auto& r : rows) EXPECT_EQ(r.values, full[r.index].values);
}

TEST(Pipeline, MixedImageSizesBatchSeparately) {
  Model model = LoadFixtureModel("good");
  std::vector<std::vector<Row>> results;
  for (int batch : {1, 4}) {
    auto src = OpenImages(ListImages(Fixture("images")));
    CaptureWriter w(12);
    PipelineOptions opt = Opts();
    opt.batch_size = batch;
    ASSERT_TRUE(RunPipeline(model, *src, w, opt, PreprocessOptions{}, RunContext{}, nullptr).ok());
    ASSERT_EQ(w.rows.size(), 5u);
    EXPECT_NE(w.rows[4].label.find("img_04.jpg"), std::string::npos);
    results.push_back(w.rows);
  }
  // oneDNN picks its convolution kernels by input shape: at some small sizes (160x120 here,
  // not 320x240) a batch of 3 differs from 3 batches of 1 in the last float bits. Same model,
  // same pixels: agreement far below DeepLabCut's 1e-3 px parity tolerance.
  for (size_t i = 0; i < 5; ++i) {
    for (size_t j = 0; j < 12; ++j) EXPECT_NEAR(results[0][i].values[j], results[1][i].values[j], 1e-4) << i;
  }
}

TEST(Pipeline, WrongOutputShapeIsOneClearError) {
  Model model = LoadFixtureModel("wrong_shape");
  for (bool async : {true, false}) {
    PipelineOptions opt = Opts();
    opt.async = async;
    Status st;
    RunVideo(model, opt, {}, &st);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kModelError) << st.ToString();
    EXPECT_NE(st.message().find("bodypart/heatmap"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("index_h264.mp4"), std::string::npos) << st.message();
  }
}

TEST(Pipeline, WriterFailureStopsEverything) {
  Model model = LoadFixtureModel("good");
  for (bool async : {true, false}) {
    auto src = OpenVideo(Fixture("videos/index_h264.mp4"), DecodeOptions{});
    CaptureWriter w(12, /*fail_at=*/30);
    PipelineOptions opt = Opts();
    opt.async = async;
    opt.batch_size = 4;
    Status st = RunPipeline(model, *src, w, opt, PreprocessOptions{}, RunContext{}, nullptr);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kIOError);
    EXPECT_NE(st.message().find("writing frame 30"), std::string::npos) << st.message();
    EXPECT_EQ(w.rows.size(), 30u);
  }
}

TEST(Pipeline, CancelStopsPromptly) {
  Model model = LoadFixtureModel("good");
  std::atomic<bool> cancel{false};
  for (bool async : {true, false}) {
    auto src = OpenVideo(Fixture("videos/index_h264.mp4"), DecodeOptions{});
    CaptureWriter w(12);
    RunContext ctx;
    ctx.cancel = &cancel;
    ctx.on_progress = [&](const Progress& p) {
      if (p.frames_done >= 8) cancel = true;
    };
    PipelineOptions opt = Opts();
    opt.async = async;
    opt.batch_size = 2;
    cancel = false;
    Status st = RunPipeline(model, *src, w, opt, PreprocessOptions{}, ctx, nullptr);
    EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.ToString();
    EXPECT_LT(w.rows.size(), 75u);
  }
}

// A top-down or CTD run over the first `frames` frames of the test video, with `batch` crops per
// pose batch and `slots` slots; rows of `ncols` values. Failures are reported, rows returned.
std::vector<Row> RunTopDownVideo(Model& model, const RunContext& ctx, int batch, int slots, int64_t frames,
                                 size_t ncols, RunStats* stats, bool async = true) {
  DecodeOptions dec;
  dec.stop_frame = frames;
  auto src = OpenVideo(Fixture("videos/index_h264.mp4"), dec);
  CaptureWriter w(ncols);
  PipelineOptions opt = Opts();
  opt.batch_size = batch;
  opt.num_slots = slots;
  opt.async = async;
  opt.detector_batch_size = 2;
  Status st = RunPipeline(model, *src, w, opt, PreprocessOptions{}, ctx, stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return w.rows;
}

// Boxes that vary per frame: 0 to 3 per frame, one partly outside the 320x240 frame.
class TestBoxes : public BoxProvider {
 public:
  Detections BoxesFor(int64_t index, const std::string&) const override {
    const int n = static_cast<int>(index % 4);
    at::Tensor boxes = at::empty({n, 4}), scores = at::ones({n});
    for (int i = 0; i < n; ++i) {
      const float x = static_cast<float>((index * 7 + i * 90) % 300) - 20;
      boxes[i][0] = x;
      boxes[i][1] = 30.0f + 50 * i;
      boxes[i][2] = 60.0f + i * 10;
      boxes[i][3] = 40.0f + index % 5;
    }
    return Detections{boxes, scores};
  }
};

// Top-down: crops batched across frames (a frame's crops may span two batches), frames without
// boxes passing through; identical rows whatever the crop batch size and slot count. Also the
// TSan job's check of the top-down threads.
TEST(Pipeline, TopDownIdenticalAcrossCropBatchSizes) {
  Model model = LoadFixtureModel("td_tiny");
  ASSERT_EQ(model.spec.method, Method::kTopDown);
  TestBoxes boxes;
  RunContext ctx;
  ctx.boxes = &boxes;
  const size_t ncols = 3 * 4 * 3;
  std::vector<Row> reference, same_batch;
  for (int batch : {1, 3, 8}) {
    for (int slots : {1, 3}) {
      RunStats stats;
      const std::vector<Row> rows = RunTopDownVideo(model, ctx, batch, slots, 30, ncols, &stats);
      ASSERT_FALSE(HasFailure());
      ASSERT_EQ(rows.size(), 30u);
      int64_t boxes_given = 0;
      for (int64_t i = 0; i < 30; ++i) boxes_given += i % 4;
      EXPECT_EQ(stats.crops, boxes_given);
      for (size_t i = 0; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].index, static_cast<int64_t>(i));
        const size_t found = i % 4;  // individuals beyond the boxes are -1
        for (size_t c = found * 12; c < ncols; ++c) ASSERT_EQ(rows[i].values[c], -1.0f) << "frame " << i;
        for (size_t a = 0; a < found; ++a) ASSERT_GE(rows[i].values[a * 12 + 2], 0.0f) << "frame " << i;
      }
      if (reference.empty()) reference = rows;
      // oneDNN picks other kernels for other batch shapes of these small crops, so values
      // agree to float rounding (bit for bit between slot counts of one batch size).
      for (size_t i = 0; i < rows.size(); ++i) {
        for (size_t c = 0; c < ncols; ++c) {
          ASSERT_NEAR(rows[i].values[c], reference[i].values[c], 1e-4)
              << "batch " << batch << " slots " << slots << " frame " << i << " column " << c;
        }
      }
      if (slots == 1) {
        same_batch = rows;
      } else {
        for (size_t i = 0; i < rows.size(); ++i) {
          ASSERT_EQ(0, std::memcmp(rows[i].values.data(), same_batch[i].values.data(), ncols * sizeof(float)))
              << "batch " << batch << " frame " << i;
        }
      }
    }
  }
}

// Condition poses that vary per frame: 0 to 2 animals (5 keypoints) inside the 320x240 frame.
class TestConditions : public ConditionProvider {
 public:
  at::Tensor ConditionsFor(int64_t index, const std::string&) const override {
    const int64_t n = index % 3;
    at::Tensor c = at::empty({n, 5, 3}, at::kFloat);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < 5; ++j) {
        c[i][j][0] = static_cast<float>(40 + 120 * i + 10 * j + index % 7);
        c[i][j][1] = static_cast<float>(60 + 15 * j + 3 * i);
        c[i][j][2] = 0.3f + 0.1f * static_cast<float>(j);
      }
    }
    return c;
  }
};

// CTD tracking: the crop stage is the tracker (source reruns, crops through the CTD model
// synchronously) between decode and the writer; rows in order and the same whatever the crop
// batch size and slot count. Also the TSan job's check of the tracking threads.
TEST(Pipeline, CtdTrackingRowsInOrderAcrossBatchSizes) {
  Model model = LoadModel(Fixture("dlc/ctd_rtmpose_s.pt"), ModelLoadOptions{});
  ASSERT_EQ(model.spec.method, Method::kConditionalTopDown);
  TestConditions conditions;
  CtdTrackingOptions tracking;
  tracking.bu_min_frequency = 2;
  RunContext ctx;
  ctx.conditions = &conditions;
  ctx.ctd_tracking = &tracking;
  const size_t ncols = 3 * 5 * 3;
  std::vector<Row> reference;
  for (int batch : {1, 3}) {
    for (int slots : {1, 3}) {
      RunStats stats;
      const std::vector<Row> rows = RunTopDownVideo(model, ctx, batch, slots, 9, ncols, &stats);
      ASSERT_FALSE(HasFailure());
      ASSERT_EQ(rows.size(), 9u);
      // The golden model's random scores rescore to 0: no track survives a frame, so the
      // source runs on every frame.
      EXPECT_EQ(stats.source_runs, 9);
      for (size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rows[i].index, static_cast<int64_t>(i));
      if (reference.empty()) reference = rows;
      for (size_t i = 0; i < rows.size(); ++i) {
        for (size_t c = 0; c < ncols; ++c) {
          ASSERT_NEAR(rows[i].values[c], reference[i].values[c], 1e-3)
              << "batch " << batch << " slots " << slots << " frame " << i << " column " << c;
        }
      }
    }
  }
}

void ExpectSameRows(const std::vector<Row>& a, const std::vector<Row>& b, size_t ncols, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].index, b[i].index) << what;
    ASSERT_EQ(0, std::memcmp(a[i].values.data(), b[i].values.data(), ncols * sizeof(float))) << what << ": frame " << i;
  }
}

// Every crop run also runs sequentially (one thread, each batch run as it closes, as
// FramePredictor and --no-async run it), bit for bit as the threaded run: top-down with given
// boxes, CTD with conditions given and from a conditions model, CTD tracking.
TEST(Pipeline, CropRunsSequentialEqualThreaded) {
  Model td = LoadFixtureModel("td_tiny");
  TestBoxes boxes;
  RunContext with_boxes;
  with_boxes.boxes = &boxes;
  for (int batch : {1, 3}) {
    RunStats threaded_stats, sequential_stats;
    const auto threaded = RunTopDownVideo(td, with_boxes, batch, 3, 20, 36, &threaded_stats);
    const auto sequential = RunTopDownVideo(td, with_boxes, batch, 3, 20, 36, &sequential_stats, false);
    ExpectSameRows(threaded, sequential, 36, "top-down, batch " + std::to_string(batch));
    EXPECT_EQ(sequential_stats.crops, threaded_stats.crops);
    EXPECT_EQ(sequential_stats.batches, threaded_stats.batches);
  }
  Model ctd = LoadModel(Fixture("dlc/ctd_rtmpose_s.pt"), ModelLoadOptions{});
  Model bu = LoadModel(Fixture("dlc/hrnet_w32_bu_single.pt"), ModelLoadOptions{});
  TestConditions conditions;
  CtdTrackingOptions tracking;
  tracking.bu_min_frequency = 2;
  RunContext given, from_model, tracked, tracked_from_model;
  given.conditions = tracked.conditions = &conditions;
  from_model.conditions_model = tracked_from_model.conditions_model = &bu;
  tracked.ctd_tracking = tracked_from_model.ctd_tracking = &tracking;
  const std::vector<std::pair<std::string, const RunContext*>> cases = {
      {"CTD, conditions given", &given},
      {"CTD, conditions model", &from_model},
      {"CTD tracking", &tracked},
      {"CTD tracking, conditions model", &tracked_from_model}};
  for (const auto& [what, ctx] : cases) {
    RunStats threaded_stats, sequential_stats;
    const auto threaded = RunTopDownVideo(ctd, *ctx, 2, 3, 5, 45, &threaded_stats);
    const auto sequential = RunTopDownVideo(ctd, *ctx, 2, 3, 5, 45, &sequential_stats, false);
    ASSERT_FALSE(HasFailure()) << what;
    ExpectSameRows(threaded, sequential, 45, what);
    EXPECT_EQ(sequential_stats.source_runs, threaded_stats.source_runs) << what;
  }
}

// CTD tracking runs its pose batches inline in the crop stage: a writer that fails mid-run must
// end the run with the writer's error, threaded or sequential, with every other stage stopped.
TEST(Pipeline, CtdTrackingWriterFailureStopsEverything) {
  Model model = LoadModel(Fixture("dlc/ctd_rtmpose_s.pt"), ModelLoadOptions{});
  TestConditions conditions;
  CtdTrackingOptions tracking;
  RunContext ctx;
  ctx.conditions = &conditions;
  ctx.ctd_tracking = &tracking;
  for (bool async : {true, false}) {
    DecodeOptions dec;
    dec.stop_frame = 9;
    auto src = OpenVideo(Fixture("videos/index_h264.mp4"), dec);
    CaptureWriter w(45, /*fail_at=*/3);
    PipelineOptions opt = Opts();
    opt.async = async;
    opt.batch_size = 1;
    Status st = RunPipeline(model, *src, w, opt, PreprocessOptions{}, ctx, nullptr);
    ASSERT_FALSE(st.ok()) << "async " << async;
    EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
    EXPECT_NE(st.message().find("writing frame 3"), std::string::npos) << st.message();
    EXPECT_EQ(w.rows.size(), 3u);
  }
}

TEST(Pipeline, ConfigMissingFieldNamesIt) {
  try {
    LoadFixtureModel("missing_field");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kModelError);
    EXPECT_NE(e.status().message().find("metadata.bodyparts"), std::string::npos) << e.what();
    EXPECT_NE(e.status().message().find("pytorch_config.yaml"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace posebatch
