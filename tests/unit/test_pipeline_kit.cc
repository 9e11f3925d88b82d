// The pipeline kit's pieces on their own (src/pipeline/kit): the batcher, the in-order
// inference loop, the decode stage's error, the failure latch and the threaded driver, the
// timeline writer; and the one table of mode rules (CheckModeInputs). Part of test_pipeline,
// so that the TSan job runs them too.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "pipeline/kit/batcher.h"
#include "pipeline/kit/decode_stage.h"
#include "pipeline/kit/inference_stage.h"
#include "pipeline/kit/stage_threads.h"
#include "pipeline/kit/timeline_writer.h"
#include "posebatch/pipeline.h"

namespace posebatch {
namespace {

InputGeometry Geometry(int w, int h) {
  InputGeometry g;
  g.src_w = g.width = w;
  g.src_h = g.height = h;
  return g;
}

RowRecord Record(int64_t index, const InputGeometry& g) { return RowRecord{index, "", g}; }

void FillRow(SlotPool& pool, const Batcher::Row& row) { pool.RowFilled(row.slot); }

TEST(Batcher, ClosesWhenFullOnOtherGeometryAndWhenFinished) {
  SlotPool pool(4, 3);
  std::vector<int64_t> closed;
  Batcher batcher(pool, [&](int64_t b) { closed.push_back(b); });
  const InputGeometry small = Geometry(8, 8), large = Geometry(16, 8);
  Batcher::Row row;
  // Three rows fill batch 0; CloseIfFull closes it only then.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(batcher.Add(Record(i, small), &row));
    EXPECT_EQ(row.opened, i == 0);
    EXPECT_EQ(row.row, i);
    FillRow(pool, row);
    batcher.CloseIfFull();
    EXPECT_EQ(closed.size(), i == 2 ? 1u : 0u) << "row " << i;
  }
  // Batch 1 has one row when a frame of another size comes: it closes, batch 2 opens.
  ASSERT_TRUE(batcher.Add(Record(3, small), &row));
  FillRow(pool, row);
  ASSERT_TRUE(batcher.Add(Record(4, large), &row));
  EXPECT_TRUE(row.opened);
  EXPECT_EQ(row.slot->batch_id, 2);
  FillRow(pool, row);
  EXPECT_EQ(closed, (std::vector<int64_t>{0, 1}));
  batcher.Finish();
  EXPECT_EQ(closed, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_FALSE(batcher.open());
  EXPECT_EQ(batcher.next_batch(), 3);
  // Every batch is ready with its rows, then the end of the stream.
  const std::vector<int> rows = {3, 1, 1};
  for (int64_t b = 0; b < 3; ++b) {
    BatchSlot* slot = pool.WaitReady(b);
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(slot->rows_assigned, rows[static_cast<size_t>(b)]);
    pool.Release(slot);
  }
  EXPECT_EQ(pool.WaitReady(3), nullptr);
}

TEST(Batcher, AddReturnsFalseOnceCancelled) {
  SlotPool pool(1, 1);
  Batcher batcher(pool);
  Batcher::Row row;
  ASSERT_TRUE(batcher.Add(Record(0, Geometry(4, 4)), &row));
  batcher.CloseIfFull();  // batch 0 holds the only slot; batch 1 waits for it
  std::thread cancel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pool.Cancel();
  });
  EXPECT_FALSE(batcher.Add(Record(1, Geometry(4, 4)), &row));
  cancel.join();
}

// The sequential drivers' use: each batch runs as it closes, in order, on the same thread.
TEST(InOrderBatches, RunsEachBatchAsItClosesThenStopsAtTheEnd) {
  SlotPool pool(1, 2);
  RunContext context;
  double wait = 0;
  InOrderBatches inference(pool, context, &wait);
  std::vector<std::vector<int64_t>> ran;
  auto infer = [](BatchSlot* s) {
    std::vector<int64_t> frames;
    for (const auto& r : s->records) frames.push_back(r.index);
    return frames;
  };
  auto push = [&](std::vector<int64_t> frames) {
    ran.push_back(std::move(frames));
    return true;
  };
  Batcher batcher(pool, [&](int64_t closed) { ASSERT_TRUE(inference.RunUpTo(closed + 1, infer, push)); });
  Batcher::Row row;
  for (int64_t i = 0; i < 5; ++i) {  // one slot: without the run on close, Add 3 would wait for ever
    ASSERT_TRUE(batcher.Add(Record(i, Geometry(4, 4)), &row));
    pool.RowFilled(row.slot);
    batcher.CloseIfFull();
  }
  batcher.Finish();
  EXPECT_EQ(ran, (std::vector<std::vector<int64_t>>{{0, 1}, {2, 3}, {4}}));
  EXPECT_TRUE(inference.RunAll(infer, push)) << "nothing left: the end of the stream";
  EXPECT_EQ(ran.size(), 3u);
}

TEST(InOrderBatches, StopRequestThrowsCancelledAndAFalsePushStops) {
  SlotPool pool(3, 1);
  std::atomic<bool> cancel{false};
  RunContext context;
  context.cancel = &cancel;
  double wait = 0;
  InOrderBatches inference(pool, context, &wait);
  Batcher batcher(pool);
  Batcher::Row row;
  for (int64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(batcher.Add(Record(i, Geometry(4, 4)), &row));
    pool.RowFilled(row.slot);
    batcher.CloseIfFull();
  }
  batcher.Finish();
  int pushed = 0;
  auto infer = [](BatchSlot* s) { return s->batch_id; };
  EXPECT_FALSE(inference.RunAll(infer, [&](int64_t) { return ++pushed < 1; }));
  EXPECT_EQ(pushed, 1);
  cancel = true;
  try {
    inference.RunAll(infer, [](int64_t) { return true; });
    FAIL() << "a stop request must end the loop with an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kCancelled);
  }
}

TEST(GuardBatch, NamesTheStepTheFramesAndTheSource) {
  BatchSlot slot;
  slot.records = {Record(7, Geometry(4, 4)), Record(9, Geometry(4, 4))};
  try {
    GuardBatch("inference on", slot, "clip.mp4", [] { throw std::runtime_error("out of memory"); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status().message(), "inference on frames 7..9 of clip.mp4: out of memory");
  }
}

// Frames 0, 1, 2, then a decoder error.
class FailingSource : public FrameSource {
 public:
  FailingSource() { info_.path = "broken.mp4"; }
  bool Next(Frame* frame) override {
    if (next_ == 3) throw Error(Status::Corrupt("bad packet"));
    frame->index = next_++;
    return true;
  }
  const SourceInfo& info() const override { return info_; }

 private:
  SourceInfo info_;
  int64_t next_ = 0;
};

TEST(DecodeStage, ErrorNamesTheSourceAndTheLastGoodFrame) {
  FailingSource source;
  double busy = 0;
  DecodeStage decode(source, &busy);
  Frame frame;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(decode.Next(&frame));
  try {
    decode.Next(&frame);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kCorrupt);
    EXPECT_EQ(e.status().message(), "decode after frame 2 of broken.mp4: bad packet");
  }
}

TEST(StageThreads, FirstFailureIsLatchedAndCancelsTheOthersOnce) {
  FailureLatch latch;
  std::atomic<int> cancels{0};
  std::atomic<bool> cancelled{false};
  {
    StageThreads threads(latch, [&] {
      ++cancels;
      cancelled = true;
    });
    threads.Start([] { throw Error(Status::IOError("disk full")); });
    threads.Start([&] {  // a stage that runs until cancelled
      while (!cancelled) std::this_thread::yield();
      throw Error(Status::Cancelled("interrupted"));  // a second failure: not the one kept
    });
    threads.JoinAll();
  }
  ASSERT_TRUE(latch.failed());
  EXPECT_EQ(latch.status().code(), StatusCode::kIOError);
  EXPECT_EQ(cancels.load(), 1);
  FailureLatch in_turn;
  RunInTurn(in_turn, [] { throw Error(Status::ModelError("bad output")); });
  EXPECT_EQ(in_turn.status().code(), StatusCode::kModelError);
}

class Rows : public PoseWriter {
 public:
  void Append(int64_t index, const std::string&, const float* values) override {
    indices.push_back(index);
    first.push_back(values[0]);
  }
  void Commit() override {}
  void Abort() noexcept override {}
  const std::string& final_path() const override { return path_; }
  std::vector<int64_t> indices;
  std::vector<float> first;

 private:
  std::string path_ = "memory";
};

TEST(TimelineWriter, LostFramesBecomeRowsOfNaNInTheirPlaces) {
  Rows out;
  SourceInfo info;
  info.path = "clip.mp4";
  info.is_video = true;
  RunContext context;
  TimelineWriter rows(out, info, 2, context);
  const float values[2] = {1, 2};
  rows.Append(Record(0, Geometry(4, 4)), values);
  rows.Append(Record(3, Geometry(4, 4)), values);  // frames 1 and 2 could not be decoded
  StreamEnd end;
  end.timeline_end = 6;  // the container declares 6 frames
  rows.Finish(end);
  EXPECT_EQ(out.indices, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  for (size_t i : {size_t{1}, size_t{2}, size_t{4}, size_t{5}}) EXPECT_TRUE(std::isnan(out.first[i])) << i;
  RunStats stats;
  rows.FillStats(&stats);
  EXPECT_EQ(stats.frames, 2);
  EXPECT_EQ(stats.lost_frames, 4);
  ASSERT_EQ(stats.lost.size(), 2u);
  EXPECT_EQ(stats.lost[0].first, 1);
  EXPECT_EQ(stats.lost[1].last, 5);
}

TEST(CheckModeInputs, EachModeSaysWhatItNeedsAndWhatDoesNotApply) {
  Model bottom_up, top_down, ctd;
  bottom_up.path = "bu.pt";
  top_down.path = "td.pt";
  top_down.spec.method = Method::kTopDown;
  ctd.path = "ctd.pt";
  ctd.spec.method = Method::kConditionalTopDown;
  auto message = [](const Model& m, ModeInputs in) { return CheckModeInputs(m, in).message(); };
  ModeInputs none, boxes, conditions, both, tracking;
  boxes.boxes = true;
  conditions.conditions = true;
  both.conditions = both.conditions_model = true;
  tracking.conditions_model = tracking.ctd_tracking = true;
  EXPECT_TRUE(CheckModeInputs(bottom_up, none).ok());
  EXPECT_NE(message(bottom_up, boxes).find("boxes apply to top-down models"), std::string::npos);
  EXPECT_NE(message(bottom_up, conditions).find("apply to CTD models"), std::string::npos);
  EXPECT_NE(message(top_down, none).find("td.pt: a top-down model needs a detector"), std::string::npos);
  EXPECT_TRUE(CheckModeInputs(top_down, boxes).ok());
  EXPECT_NE(message(top_down, tracking).find("apply to CTD models"), std::string::npos);
  EXPECT_NE(message(ctd, none).find("ctd.pt: a CTD model needs conditions"), std::string::npos);
  EXPECT_NE(message(ctd, both).find("not both"), std::string::npos);
  EXPECT_TRUE(CheckModeInputs(ctd, conditions).ok());
  EXPECT_TRUE(CheckModeInputs(ctd, tracking).ok());
  EXPECT_EQ(CheckModeInputs(ctd, boxes).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace posebatch
