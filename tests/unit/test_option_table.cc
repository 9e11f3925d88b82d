// The option tables (posebatch/option_table.h): each row's declaration is checked against what
// the code does with it. A row that says it changes rows must change the resume journal's key
// under its field, one that says it does not must leave the key equal; names, keys and help are
// unique and present; bad values fail naming the option.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "analyze/resume_plan.h"
#include "io/resume_journal.h"
#include "posebatch/option_table.h"
#include "posebatch/pipeline.h"
#include "test_env.h"

namespace posebatch {
namespace {

template <typename Options>
void ExpectWellFormed(const OptionTable<Options>& table) {
  std::set<std::string> keys, names;
  for (const auto& spec : table) {
    SCOPED_TRACE(spec.names);
    EXPECT_TRUE(keys.insert(spec.key()).second) << "duplicate key";
    for (size_t start = 0; start <= spec.names.size();) {
      const size_t comma = std::min(spec.names.find(',', start), spec.names.size());
      EXPECT_TRUE(names.insert(spec.names.substr(start, comma - start)).second) << "duplicate name";
      start = comma + 1;
    }
    EXPECT_FALSE(spec.help.empty());
    EXPECT_FALSE(spec.group.empty());
    EXPECT_TRUE(spec.set && spec.get);
    EXPECT_EQ(spec.kind == OptionKind::kValue, !spec.value_name.empty());
    EXPECT_EQ(spec.rows == RowEffect::kKeyed, !spec.journal.empty());
    if (!spec.env.empty()) {
      EXPECT_EQ(spec.env.rfind("POSEBATCH_", 0), 0u);
    }
    if (!spec.needs.empty()) {
      EXPECT_NE(FindOption(table, spec.needs), nullptr);
    }
    if (!spec.excludes.empty()) {
      EXPECT_NE(FindOption(table, spec.excludes), nullptr);
    }
    Options o;
    const std::string value = spec.value_name == "FILE" ? testing::Fixture("videos/index_h264.mp4") : spec.example;
    EXPECT_TRUE(spec.set(value, &o).ok()) << "example " << value;
  }
}

TEST(OptionTable, EveryTableIsWellFormed) {
  ExpectWellFormed(ModelOptionTable());
  ExpectWellFormed(DrawingOptionTable());
  ExpectWellFormed(AnalyzeOptionTable());
  ExpectWellFormed(PredictorOptionTable());
}

// Every row of AnalyzeOptionTable, given its example (files: an existing file), against the
// journal key of a top-down model (whose key has every field, the detector's batch included).
TEST(OptionTable, RowEffectsAreWhatTheResumeKeyDoes) {
  const Model model = LoadModel(testing::Fixture("models/td_tiny"), ModelLoadOptions{});
  const std::string video = testing::Fixture("videos/index_h264.mp4");
  auto key = [&](const AnalyzeOptions& o) {
    const ColumnLayout layout = LayoutFor(model, o.scorer.empty() ? "S" : o.scorer, false);
    return JournalHeaderFor("w", model, video, layout, o, nullptr);
  };
  const JournalHeader before = key(AnalyzeOptions{});
  int keyed = 0, unkeyed = 0;
  for (const auto& spec : AnalyzeOptionTable()) {
    if (spec.rows == RowEffect::kByModel) continue;  // keyed through the loaded model (JournalKey.*)
    SCOPED_TRACE(spec.names);
    AnalyzeOptions o;
    const std::string value = spec.value_name == "FILE" ? video : spec.example;
    ASSERT_TRUE(spec.set(value, &o).ok());
    const std::string differs = HeaderMismatch(before, key(o));
    if (spec.rows == RowEffect::kNone) {
      EXPECT_EQ(differs, "");
      ++unkeyed;
    } else {
      EXPECT_EQ(differs.rfind(spec.journal + " ", 0), 0u) << differs;
      ++keyed;
    }
  }
  EXPECT_GE(keyed, 9);     // device, scorer, frames, crop, batch size, detector batch, boxes, conditions, CTD
  EXPECT_GE(unkeyed, 20);  // outputs, drawing, speed
}

TEST(OptionTable, SetsTheFieldsItNames) {
  AnalyzeOptions o;
  const auto& t = AnalyzeOptionTable();
  ASSERT_TRUE(SetOption(t, "batch_size", "16", &o).ok());
  EXPECT_EQ(o.pipeline.batch_size, 16);
  EXPECT_FALSE(o.auto_batch_size);
  ASSERT_TRUE(SetOption(t, "--batch-size", "auto", &o).ok());
  EXPECT_TRUE(o.auto_batch_size);
  ASSERT_TRUE(SetOption(t, "precision", "int8", &o).ok());  // a model row, lifted into AnalyzeOptions::model
  EXPECT_EQ(o.model.precision, "int8");
  ASSERT_TRUE(SetOption(t, "channels_last", "false", &o).ok());
  EXPECT_EQ(o.model.channels_last, std::optional<bool>(false));
  ASSERT_TRUE(SetOption(t, "frames", "10:", &o).ok());
  EXPECT_EQ(o.decode.start_frame, 10);
  EXPECT_EQ(o.decode.stop_frame, -1);
  ASSERT_TRUE(SetOption(t, "crop", "1,9,2,8", &o).ok());
  EXPECT_EQ(o.preprocess.crop.x2, 9);
  ASSERT_TRUE(SetOption(t, "skeleton", "nose-tail,tail-ear", &o).ok());  // a drawing row
  EXPECT_TRUE(o.labeled_video.draw_skeleton);
  EXPECT_EQ(o.labeled_video.skeleton.size(), 2u);
  ASSERT_TRUE(SetOption(t, "threads", "auto", &o).ok());
  EXPECT_EQ(o.pipeline.intra_op_threads, 0);
  ASSERT_TRUE(SetOption(t, "async", "false", &o).ok());
  EXPECT_FALSE(o.pipeline.async);
  ASSERT_TRUE(SetOption(t, "ctd_tracking_config", "bu_min_frequency=3", &o).ok());
  EXPECT_TRUE(o.ctd_tracking);
  EXPECT_EQ(FindOption(t, "batch_size")->get(o), "auto");
  EXPECT_EQ(FindOption(t, "frames")->get(o), "10:");
  EXPECT_EQ(FindOption(t, "crop")->get(o), "1,9,2,8");
}

TEST(OptionTable, BadValuesFailNamingTheOption) {
  AnalyzeOptions o;
  const auto& t = AnalyzeOptionTable();
  struct Case {
    std::string key, value, needle;
  };
  for (const Case& c : std::vector<Case>{{"batch_size", "0", "or 'auto', got '0'"},
                                         {"batch_size", "8x", "got '8x'"},
                                         {"threads", "-2", "got '-2'"},
                                         {"frames", "5:3", "STOP must be > START"},
                                         {"frames", "12", "START:STOP"},
                                         {"frames", "-1:", "whole numbers >= 0"},
                                         {"crop", "1,2,3", "x1,x2,y1,y2"},
                                         {"crop", "10,5,0,8", "x1 < x2"},
                                         {"crop", "1,2,3,4,5", "x1,x2,y1,y2"},
                                         {"device", "gpu", "cpu, cuda or cuda:N"},
                                         {"device", "cuda:x", "cuda:N"},
                                         {"precision", "int4", "float32, bf16, int8"},
                                         {"csv", "maybe", "true or false"},
                                         {"pcutoff", "2", "from 0"},
                                         {"config", "/no/such/file", "no such file"},
                                         {"skeleton", "nose", "a-b,c-d"},
                                         {"ctd_tracking_config", "bu_every=3", "bu_every"}}) {
    SCOPED_TRACE(c.key + "=" + c.value);
    const Status st = SetOption(t, c.key, c.value, &o);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(st.message().rfind(c.key + ": ", 0), 0u) << st.message();
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << st.message();
  }
  EXPECT_EQ(SetOption(t, "no_such_option", "1", &o).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(o.pipeline.batch_size, AnalyzeOptions{}.pipeline.batch_size);  // a failed value leaves it
}

TEST(OptionTable, PredictorRowsSetThePredictorOptions) {
  FramePredictorOptions o;
  const auto& t = PredictorOptionTable();
  ASSERT_TRUE(SetOption(t, "batch_size", "2", &o).ok());
  ASSERT_TRUE(SetOption(t, "threads", "3", &o).ok());
  ASSERT_TRUE(SetOption(t, "device", "cpu", &o).ok());
  ASSERT_TRUE(SetOption(t, "precision", "bf16", &o).ok());
  EXPECT_EQ(o.batch_size, 2);
  EXPECT_EQ(o.intra_op_threads, 3);
  EXPECT_EQ(o.model.precision, "bf16");
  EXPECT_FALSE(SetOption(t, "batch_size", "auto", &o).ok());  // the predictor has no auto
}

}  // namespace
}  // namespace posebatch
