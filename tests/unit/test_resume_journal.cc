// The resume journal: intact chunks come back bit for bit, torn or corrupt tails are never
// trusted, stale headers are named, and the writer's file lifecycle (keep on abort, delete on
// commit) holds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "analyze/resume_plan.h"
#include "io/resume_journal.h"
#include "posebatch/pipeline.h"
#include "posebatch/status.h"
#include "test_env.h"

namespace posebatch {
namespace {

namespace fs = std::filesystem;
constexpr size_t kCols = 6;

// Row values that differ per frame and column, with a NaN and odd bit patterns.
std::vector<float> RowFor(int64_t frame) {
  std::vector<float> v(kCols);
  for (size_t c = 0; c < kCols; ++c) v[c] = static_cast<float>(frame) * 1.25f + static_cast<float>(c) / 3.0f;
  if (frame % 7 == 0) v[2] = std::numeric_limits<float>::quiet_NaN();
  return v;
}

class Journal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pb_journal_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = (dir_ / "out.resume").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes frames [first, first + rows) and aborts (as a killed or failed run leaves it).
  void WriteRows(int64_t first, int64_t rows, const JournalContents* resume = nullptr) {
    auto w = CreateJournalWriter(path_, header_, kCols, kChunk, resume);
    for (int64_t f = first; f < first + rows; ++f) w->Append(f, "", RowFor(f).data());
    w->Abort();
  }

  void ExpectRows(const JournalContents& j, int64_t first, int64_t rows) {
    ASSERT_EQ(j.rows(), rows);
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_EQ(j.frames[r], first + r);
      auto want = RowFor(first + r);
      ASSERT_EQ(std::memcmp(want.data(), j.values.data() + r * kCols, kCols * sizeof(float)), 0) << "row " << r;
    }
  }

  static constexpr int64_t kChunk = 8;
  JournalHeader header_{{"model_weights", "123:abcd"}, {"batch_size", "4"}, {"frames", "10:-1"}};
  fs::path dir_;
  std::string path_;
};

TEST_F(Journal, CompleteChunksComeBackBitForBit) {
  WriteRows(10, 3 * kChunk + 5);  // the 5 rows of an unfinished chunk are never written
  JournalContents j = ReadJournal(path_, kCols);
  EXPECT_EQ(j.problem, "");
  EXPECT_EQ(j.header, header_);
  EXPECT_EQ(j.chunks, 3);
  EXPECT_EQ(j.discarded_bytes, 0u);
  EXPECT_EQ(j.valid_bytes, fs::file_size(path_));
  ExpectRows(j, 10, 3 * kChunk);
}

// Top-down and CTD runs journal each frame's boxes with its row (0 to 3 boxes here), so that a
// resumed run's _full.pickle has the replayed frames' boxes; a cut anywhere in a chunk of such
// variable-length rows discards that chunk and keeps the ones before.
TEST_F(Journal, RowsWithBoxesComeBackAndTornTailsAreDiscarded) {
  auto boxes_for = [](int64_t f) {
    std::vector<float> b, s;
    for (int64_t i = 0; i < f % 4; ++i) {
      for (int c = 0; c < 4; ++c) b.push_back(static_cast<float>(f * 10 + i * 4 + c) + 0.5f);
      s.push_back(static_cast<float>(i) / 4.0f + 0.1f);
    }
    return std::make_pair(b, s);
  };
  {
    auto w = CreateJournalWriter(path_, header_, kCols, kChunk, nullptr, /*with_boxes=*/true);
    for (int64_t f = 10; f < 10 + 3 * kChunk; ++f) {
      const auto [b, s] = boxes_for(f);
      w->AppendBoxes(b, s);
      w->Append(f, "", RowFor(f).data());
    }
    w->Abort();
  }
  const auto size = fs::file_size(path_);
  for (uintmax_t cut : {0, 1, 5, 37}) {
    fs::resize_file(path_, size - cut);
    JournalContents j = ReadJournal(path_, kCols, /*with_boxes=*/true);
    EXPECT_EQ(j.problem, "");
    const int64_t chunks = cut == 0 ? 3 : 2;
    EXPECT_EQ(j.chunks, chunks) << "cut " << cut;
    ExpectRows(j, 10, chunks * kChunk);
    ASSERT_EQ(j.boxes.size(), static_cast<size_t>(chunks * kChunk));
    for (int64_t r = 0; r < chunks * kChunk; ++r) {
      const auto [b, s] = boxes_for(10 + r);
      EXPECT_EQ(j.boxes[r], b) << "row " << r;
      EXPECT_EQ(j.box_scores[r], s) << "row " << r;
    }
  }
}

TEST_F(Journal, TornLastChunkIsDiscarded) {
  WriteRows(10, 3 * kChunk);
  const auto size = fs::file_size(path_);
  for (uintmax_t cut : {1, 3, 17}) {
    fs::resize_file(path_, size - cut);
    JournalContents j = ReadJournal(path_, kCols);
    EXPECT_EQ(j.problem, "");
    EXPECT_EQ(j.chunks, 2) << "cut " << cut;
    EXPECT_EQ(j.discarded_bytes, fs::file_size(path_) - j.valid_bytes);
    EXPECT_GT(j.discarded_bytes, 0u);
    ExpectRows(j, 10, 2 * kChunk);
  }
}

TEST_F(Journal, CorruptChunkAndEverythingAfterItIsDiscarded) {
  WriteRows(10, 3 * kChunk);
  // Flip one bit in the second of three chunks (chunk = head 16 + rows + crc 4 bytes).
  const uintmax_t chunk_bytes = 16 + kChunk * (8 + kCols * sizeof(float)) + 4;
  const auto at = static_cast<std::streamoff>(fs::file_size(path_) - 2 * chunk_bytes + 40);
  std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
  char byte = 0;
  f.seekg(at);
  f.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x10);
  f.seekp(at);
  f.write(&byte, 1);
  f.close();
  JournalContents j = ReadJournal(path_, kCols);
  EXPECT_EQ(j.chunks, 1);
  ExpectRows(j, 10, kChunk);
  EXPECT_EQ(j.discarded_bytes, 2 * chunk_bytes);
}

TEST_F(Journal, ResumedWriterContinuesAfterTheIntactPrefix) {
  WriteRows(10, 2 * kChunk + 3);
  fs::resize_file(path_, fs::file_size(path_) - 2);  // tear the second chunk
  JournalContents first = ReadJournal(path_, kCols);
  ASSERT_EQ(first.chunks, 1);
  WriteRows(10 + kChunk, 3 * kChunk, &first);  // continue from the next frame
  JournalContents j = ReadJournal(path_, kCols);
  EXPECT_EQ(j.discarded_bytes, 0u);
  EXPECT_EQ(j.chunks, 4);
  ExpectRows(j, 10, 4 * kChunk);
}

TEST_F(Journal, RowsMustFollowOn) {
  auto w = CreateJournalWriter(path_, header_, kCols, kChunk, nullptr);
  w->Append(10, "", RowFor(10).data());
  EXPECT_THROW(w->Append(12, "", RowFor(12).data()), Error);
  w->Abort();
}

TEST_F(Journal, CommitDeletesAndAbortKeepsOnlyCompleteChunks) {
  {
    auto w = CreateJournalWriter(path_, header_, kCols, kChunk, nullptr);
    for (int64_t f = 0; f < kChunk - 1; ++f) w->Append(f, "", RowFor(f).data());
    w->Abort();
    EXPECT_FALSE(fs::exists(path_)) << "a journal without a complete chunk is of no use";
  }
  {
    auto w = CreateJournalWriter(path_, header_, kCols, kChunk, nullptr);
    for (int64_t f = 0; f < kChunk; ++f) w->Append(f, "", RowFor(f).data());
    w->Abort();
    EXPECT_TRUE(fs::exists(path_));
  }
  {
    auto w = CreateJournalWriter(path_, header_, kCols, kChunk, nullptr);
    for (int64_t f = 0; f < 2 * kChunk; ++f) w->Append(f, "", RowFor(f).data());
    w->Commit();
    EXPECT_FALSE(fs::exists(path_));
  }
}

TEST_F(Journal, StaleOrForeignJournalsAreNamed) {
  WriteRows(10, kChunk);
  JournalContents j = ReadJournal(path_, kCols);
  JournalHeader other = header_;
  other[1].second = "8";
  EXPECT_EQ(HeaderMismatch(header_, j.header), "");
  EXPECT_EQ(HeaderMismatch(other, j.header), "batch_size (journal 4, now 8)");
  other = header_;
  other.emplace_back("crop", "none");
  EXPECT_EQ(HeaderMismatch(other, j.header), "crop (missing from the journal)");
  EXPECT_EQ(HeaderMismatch(JournalHeader(header_.begin(), header_.end() - 1), j.header),
            "frames (only in the journal)");

  // A torn header, something else entirely, and no file at all.
  fs::resize_file(path_, 30);
  EXPECT_NE(ReadJournal(path_, kCols).problem, "");
  std::ofstream(path_) << "hello";
  EXPECT_NE(ReadJournal(path_, kCols).problem.find("not a posebatch resume journal"), std::string::npos);
  fs::remove(path_);
  EXPECT_EQ(ReadJournal(path_, kCols).problem, "no journal");
}

TEST(JournalChunks, AreBatchMultiplesOfAboutTwoHundredFiftySixRows) {
  for (int b : {1, 3, 4, 8, 64, 100, 1000}) {
    int64_t rows = JournalChunkRows(b);
    EXPECT_EQ(rows % b, 0) << b;
    EXPECT_GE(rows, 256) << b;
    EXPECT_LT(rows, 256 + b) << b;
  }
}

// The key (JournalHeaderFor): options that only change speed, scheduling or what else is
// written leave it as it is; an option that changes rows changes it, and the mismatch names it.
TEST(JournalKey, SpeedOnlyOptionsLeaveItAndRowOptionsNameTheirField) {
  const Model model = LoadModel(testing::Fixture("models/good"), ModelLoadOptions{});
  const std::string video = testing::Fixture("videos/index_h264.mp4");
  const ColumnLayout layout = LayoutFor(model, "S", false);
  auto key = [&](const AnalyzeOptions& o) { return JournalHeaderFor("w", model, video, layout, o, nullptr); };
  const AnalyzeOptions base;
  const JournalHeader before = key(base);

  AnalyzeOptions speed = base;
  speed.pipeline.intra_op_threads = 1;
  speed.pipeline.preprocess_workers = 3;
  speed.pipeline.postprocess_workers = 2;
  speed.pipeline.num_slots = 5;
  speed.pipeline.async = false;
  speed.decode.decoder_threads = 4;
  speed.save_csv = speed.overwrite = speed.resume = speed.labeled_video.enabled = true;
  speed.dest_dir = "elsewhere";
  speed.auto_batch_size = true;  // keyed through the batch size it chose
  EXPECT_EQ(HeaderMismatch(before, key(speed)), "");

  const std::vector<std::pair<std::string, std::function<void(AnalyzeOptions*)>>> rows = {
      {"frames (journal 0:-1, now 5:-1)", [](AnalyzeOptions* o) { o->decode.start_frame = 5; }},
      {"crop (journal none, now 1,9,2,8)",
       [](AnalyzeOptions* o) {
         o->preprocess.crop = Crop{1, 9, 2, 8};
       }},
      {"batch_size (journal 8, now 4)", [](AnalyzeOptions* o) { o->pipeline.batch_size = 4; }},
      {"device (journal cpu, now cuda)", [](AnalyzeOptions* o) { o->model.device = "cuda"; }},
      {"ctd_tracking (missing from the journal)", [](AnalyzeOptions* o) { o->ctd_tracking = true; }},
      {"boxes (missing from the journal)", [&](AnalyzeOptions* o) { o->boxes_path = video; }},
  };
  for (const auto& [field, change] : rows) {
    AnalyzeOptions o = base;
    change(&o);
    EXPECT_EQ(HeaderMismatch(key(o), before), field);
  }
}

// Model options are keyed by what the loaded network computes in: its memory layout and
// precision (a --precision that fell back is keyed as float32).
TEST(JournalKey, NamesTheNetworksLayoutAndPrecision) {
  const std::string path = testing::Fixture("dlc/r50_bu_single.pt");
  const std::string video = testing::Fixture("videos/index_h264.mp4");
  auto key = [&](bool channels_last, const std::string& precision) {
    ModelLoadOptions load;
    load.channels_last = channels_last;
    load.precision = precision;
    const Model model = LoadModel(path, load);
    return JournalHeaderFor("w", model, video, LayoutFor(model, "S", false), AnalyzeOptions{}, nullptr);
  };
  const JournalHeader nhwc = key(true, "float32");
  EXPECT_EQ(HeaderMismatch(key(false, "float32"), nhwc), "layout (journal nhwc, now nchw)");
  ModelLoadOptions int8;
  int8.precision = "int8";
  const std::string computes = LoadModel(path, int8).network->precision();  // float32 without VNNI
  EXPECT_EQ(HeaderMismatch(key(true, "int8"), nhwc),
            computes == "float32" ? "" : "precision (journal float32, now " + computes + ")");
}

}  // namespace
}  // namespace posebatch
