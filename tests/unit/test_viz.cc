// Labeled videos and plots (src/viz, src/io/video_encoder, src/io/h5_reader): DeepLabCut's
// colours, pixels of drawn dots, pcutoff, the encoder's temporary name, the .h5 reader.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/h5_reader.h"
#include "io/torch_pickle.h"
#include "io/video_encoder.h"
#include "posebatch/frame_source.h"
#include "posebatch/labeled_video.h"
#include "posebatch/model.h"
#include "posebatch/pipeline.h"
#include "posebatch/plots.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"
#include "test_env.h"
#include "viz/colormap.h"
#include "viz/labeling_writer.h"
#include "viz/pose_drawer.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

using viz::Colormap;
using viz::Rgb;

std::vector<int> Flat(const std::vector<Rgb>& colors) {
  std::vector<int> out;
  for (const Rgb& c : colors) out.insert(out.end(), {c.r, c.g, c.b});
  return out;
}

// (matplotlib.colormaps[name](np.linspace(0, 1, n))[:, :3] * 255).astype(np.uint8), matplotlib 3.6.
TEST(Colormap, EqualsMatplotlibAsDeepLabCutUsesIt) {
  struct Case {
    const char* name;
    int n;
    std::vector<int> rgb;
  };
  const Case cases[] = {
      {"rainbow", 4, {127, 0, 255, 42, 220, 220, 212, 220, 127, 255, 0, 0}},
      {"rainbow", 5, {127, 0, 255, 0, 180, 235, 128, 254, 179, 255, 178, 96, 255, 0, 0}},
      {"rainbow", 7, {127, 0, 255, 43, 126, 246, 42, 220, 220, 128, 254, 179, 212, 220, 127, 255, 126, 65, 255, 0, 0}},
      {"jet", 5, {0, 0, 127, 0, 128, 255, 124, 255, 121, 255, 148, 0, 127, 0, 0}},
      {"jet", 7, {0, 0, 127, 0, 40, 255, 0, 212, 255, 124, 255, 121, 255, 229, 0, 255, 70, 0, 127, 0, 0}},
      {"viridis", 5, {68, 1, 84, 58, 82, 139, 32, 144, 140, 94, 201, 97, 253, 231, 36}},
      {"plasma", 7, {12, 7, 134, 92, 0, 165, 155, 23, 158, 203, 71, 119, 236, 120, 83, 253, 179, 46, 239, 248, 33}},
      {"cool", 5, {0, 255, 255, 64, 191, 255, 128, 127, 255, 192, 63, 255, 255, 0, 255}},
      {"autumn", 7, {255, 0, 0, 255, 42, 0, 255, 85, 0, 255, 128, 0, 255, 170, 0, 255, 213, 0, 255, 255, 0}},
      {"hsv", 5, {255, 0, 0, 131, 255, 0, 0, 255, 245, 113, 0, 255, 255, 0, 23}},
      {"rainbow_r", 5, {255, 0, 0, 254, 180, 97, 126, 254, 180, 1, 178, 236, 127, 0, 255}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Flat(Colormap::Named(c.name).Colors(c.n)), c.rgb) << c.name << " " << c.n;
  }
  EXPECT_EQ(Flat(Colormap::Named("rainbow").Colors(1)), (std::vector<int>{127, 0, 255}));
  EXPECT_THROW(Colormap::Named("no_such_map"), Error);
}

viz::PoseColumns OneAnimal(int bodyparts) {
  std::vector<std::vector<std::string>> cols;
  for (int b = 0; b < bodyparts; ++b)
    for (const char* c : {"x", "y", "likelihood"}) cols.push_back({"scorer", "bp" + std::to_string(b), c});
  return viz::ParsePoseColumns({"scorer", "bodyparts", "coords"}, cols, "test");
}

TEST(PoseDrawer, DotHasItsColourAtTheKeypointAndTheFrameIsUntouched) {
  const int w = 64, h = 48;
  std::vector<uint8_t> frame(static_cast<size_t>(w) * h * 3, 100);
  const std::vector<uint8_t> before = frame;
  viz::DrawStyle style;
  style.dotsize = 4;
  style.pcutoff = 0.6;
  viz::PoseDrawer drawer(OneAnimal(3), style);
  const std::vector<Rgb> colors = Colormap::Named("rainbow").Colors(3);
  // bp0 at (20, 15) drawn; bp1 at (40, 30) under pcutoff; bp2 NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double row[] = {20, 15, 0.9, 40, 30, 0.6, nan, nan, nan};
  viz::PoseCanvas canvas(w, h);
  canvas.Load(frame.data());
  drawer.Draw(canvas, row, {});
  EXPECT_EQ(canvas.PixelAt(20, 15), colors[0]);
  EXPECT_EQ(canvas.PixelAt(22, 15), colors[0]);  // inside the radius
  EXPECT_EQ(canvas.PixelAt(20, 12), colors[0]);
  EXPECT_EQ(canvas.PixelAt(26, 15), (Rgb{100, 100, 100}));  // outside it
  EXPECT_EQ(canvas.PixelAt(40, 30), (Rgb{100, 100, 100}));  // likelihood 0.6 is not > pcutoff 0.6
  EXPECT_EQ(frame, before);                                 // drawing works on the canvas's copy
  // Anti-aliased edge: a blend between the dot and the background.
  const Rgb edge = canvas.PixelAt(24, 15);
  EXPECT_NE(edge, colors[0]);
  EXPECT_NE(edge, (Rgb{100, 100, 100}));
}

TEST(PoseDrawer, SkeletonBoxesAndColourByIndividual) {
  std::vector<std::vector<std::string>> cols;
  for (const char* ind : {"a1", "a2"})
    for (const char* bp : {"head", "tail"})
      for (const char* c : {"x", "y", "likelihood"}) cols.push_back({"s", ind, bp, c});
  viz::PoseColumns pc = viz::ParsePoseColumns({"scorer", "individuals", "bodyparts", "coords"}, cols, "test");
  ASSERT_TRUE(pc.multi_animal);
  ASSERT_EQ(pc.individuals.size(), 2u);
  LabeledVideoOptions o;
  o.draw_skeleton = true;
  o.skeleton = {{"head", "tail"}};
  o.dotsize = 3;
  std::vector<std::string> notes;
  viz::DrawStyle style = viz::ResolveStyle(o, viz::ProjectSettings{}, pc, &notes);
  EXPECT_TRUE(style.color_by_individual);  // multi-animal default
  ASSERT_EQ(style.skeleton.size(), 1u);
  viz::PoseDrawer drawer(pc, style);
  viz::PoseCanvas canvas(100, 60);
  std::vector<uint8_t> white(100 * 60 * 3, 255);
  canvas.Load(white.data());
  const double row[] = {10, 10, 1, 50, 10, 1, 10, 40, 1, 50, 40, 0.1};
  drawer.Draw(canvas, row, {});
  const std::vector<Rgb> colors = Colormap::Named("rainbow").Colors(2);
  EXPECT_EQ(canvas.PixelAt(10, 10), colors[0]);
  EXPECT_EQ(canvas.PixelAt(50, 10), colors[0]);
  EXPECT_EQ(canvas.PixelAt(10, 40), colors[1]);
  const Rgb mid = canvas.PixelAt(30, 10);  // skeleton line of a1, black
  EXPECT_LT(int{mid.r} + mid.g + mid.b, 200);
  const Rgb none = canvas.PixelAt(30, 40);  // a2's tail is under pcutoff: no line
  EXPECT_EQ(none, (Rgb{255, 255, 255}));
}

TEST(Pickle, ProtocolZeroAsPandasStoresAttributes) {
  // pickle.dumps([(1, [("s", "nose", "x"), ("s", "nose", "y")])], protocol=0)
  const std::string p = "(lp0\n(I1\n(lp1\n(Vs\np2\nVnose\np3\nVx\np4\ntp5\na(g2\ng3\nVy\np6\ntp7\natp8\na.";
  PyRef v = ParsePickle(p, "test");
  ASSERT_TRUE(v->is(PyObject::Type::kList));
  const PyObject& t = *v->items.at(0);
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0]->i, 1);
  const PyObject& cols = *t.items[1];
  ASSERT_EQ(cols.items.size(), 2u);
  EXPECT_EQ(cols.items[1]->items[0]->s, "s");
  EXPECT_EQ(cols.items[1]->items[1]->s, "nose");
  EXPECT_EQ(cols.items[1]->items[2]->s, "y");
  // raw-unicode-escape: Latin-1 bytes, \\u escapes above (pickle.dumps("été") / "λ").
  EXPECT_EQ(ParsePickle("V\xe9t\xe9\np0\n.", "test")->s, "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(ParsePickle("V\\u03bb\np0\n.", "test")->s, "\xce\xbb");
  EXPECT_THROW(ParsePickle("I12x\n.", "test"), Error);
  EXPECT_THROW(ParsePickle("g7\n.", "test"), Error);
}

TEST(H5Reader, ReadsDeepLabCutsOwnFile) {
  const PoseTable t = ReadPoseTable(testing::Golden("r50_bu_single/video_dlc.h5"));
  EXPECT_EQ(t.level_names, (std::vector<std::string>{"scorer", "bodyparts", "coords"}));
  ASSERT_EQ(t.cols, 12);
  EXPECT_EQ(t.columns[3], (std::vector<std::string>{"DLC_Resnet50_goldenNov24shuffle1_snapshot_000", "ear_l", "x"}));
  ASSERT_GE(t.rows, 2);
  EXPECT_EQ(t.index[0], 0);
  EXPECT_EQ(t.index[1], 1);
  // video_dlc.csv's first rows.
  EXPECT_FLOAT_EQ(static_cast<float>(t.Row(0)[0]), 219.7943f);
  EXPECT_FLOAT_EQ(static_cast<float>(t.Row(0)[11]), 0.60926116f);
  EXPECT_FLOAT_EQ(static_cast<float>(t.Row(1)[4]), 59.18931f);
  const viz::PoseColumns pc = viz::ParsePoseColumns(t.level_names, t.columns, t.path);
  EXPECT_EQ(pc.bodyparts, (std::vector<std::string>{"nose", "ear_l", "ear_r", "tail"}));
  EXPECT_FALSE(pc.multi_animal);
}

TEST(VideoEncoder, WritesUnderATemporaryNameAndRenames) {
  const fs::path dir = fs::temp_directory_path() / ("pb_test_viz_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "out.mp4").string();
  {
    VideoEncoderOptions o;
    o.width = 33;  // odd sizes are padded
    o.height = 25;
    o.fps = 25;
    VideoEncoder enc(path, o);
    EXPECT_TRUE(fs::exists(path + ".part"));
    EXPECT_FALSE(fs::exists(path));
    std::vector<uint8_t> rgb(33 * 25 * 3);
    for (int f = 0; f < 12; ++f) {
      std::fill(rgb.begin(), rgb.end(), static_cast<uint8_t>(f * 20));
      enc.Write(rgb.data(), 33 * 3);
    }
    enc.Finish();
    EXPECT_EQ(enc.frames_written(), 12);
  }
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".part"));
  // Decoded back: 12 frames of the size written, the grey levels kept.
  std::unique_ptr<FrameSource> src = OpenVideo(path, DecodeOptions{});
  Frame frame;
  int n = 0;
  while (src->Next(&frame)) {
    EXPECT_EQ(frame.width, 34);
    EXPECT_EQ(frame.height, 26);
    EXPECT_NEAR(frame.rgb[(10 * 34 + 10) * 3], n * 20, 4) << n;
    ++n;
  }
  EXPECT_EQ(n, 12);
  {
    VideoEncoderOptions o;
    o.width = 16;
    o.height = 16;
    VideoEncoder enc((dir / "aborted.mp4").string(), o);
    enc.Abort();
  }
  EXPECT_FALSE(fs::exists(dir / "aborted.mp4.part"));
  EXPECT_FALSE(fs::exists(dir / "aborted.mp4"));
  fs::remove_all(dir);
}

// The pass's labeled video (analyze --labeled-video): frames stashed at decode, drawn and
// encoded by the writer. The stash never holds more than the pipeline's frames in flight,
// however long the video, and its buffers are reused.
TEST(LabelingWriter, StashIsBoundedByThePipelineAndEveryFrameIsEncoded) {
  Model model = LoadModel(POSEBATCH_SAMPLE_DIR "/model", ModelLoadOptions{});
  const fs::path dir = fs::temp_directory_path() / ("pb_test_lw_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  DecodeOptions d;
  d.stop_frame = 96;
  auto source = OpenVideo(POSEBATCH_SAMPLE_DIR "/video.mp4", d);
  auto stash = std::make_shared<viz::FrameStash>();
  auto tee = viz::TeeFrames(*source, stash);
  const ColumnLayout layout = LayoutFor(model, "s", false);
  const std::string mp4 = (dir / "v_labeled.mp4").string();
  std::vector<std::unique_ptr<PoseWriter>> writers;
  writers.push_back(CreateH5Writer((dir / "v.h5").string(), layout, H5WriterOptions{}));
  writers.push_back(
      viz::CreateLabelingWriter(mp4, layout, source->info(), LabeledVideoOptions{}, "", Crop{}, stash, nullptr));
  auto writer = CreateFanOutWriter(std::move(writers));
  PipelineOptions p;
  p.batch_size = 4;
  p.intra_op_threads = 1;
  RunStats stats;
  ASSERT_TRUE(RunPipeline(model, *tee, *writer, p, PreprocessOptions{}, RunContext{}, &stats).ok());
  writer->Commit();
  EXPECT_EQ(stats.frames, 96);
  EXPECT_EQ(stash->held(), 0u);
  const size_t bound =
      static_cast<size_t>((p.num_slots + 2 * p.result_batches + 2 * p.postprocess_workers + 2) * p.batch_size +
                          p.decoded_frames + p.preprocess_workers + 2);
  EXPECT_LE(stash->peak(), bound);
  EXPECT_LE(stash->buffers(),
            stash->peak() + 6);  // recycled (+ the encoder's queue), not one per frame
  EXPECT_LT(stash->buffers(), 96u);
  int n = 0;
  auto labeled = OpenVideo(mp4, DecodeOptions{});
  Frame f;
  while (labeled->Next(&f)) ++n;
  EXPECT_EQ(n, 96);
  fs::remove_all(dir);
}

TEST(Plots, WritesEveryFigureAsPngAndSvg) {
  const fs::path dir = fs::temp_directory_path() / ("pb_test_plots_" + std::to_string(::getpid()));
  std::vector<std::string> written;
  PlotOptions o;
  ASSERT_TRUE(PlotTrajectories(testing::Golden("r50_bu_single/video_dlc.h5"), dir.string(), o, &written).ok());
  ASSERT_EQ(written.size(), 8u);
  for (const auto& f : written) {
    EXPECT_TRUE(fs::exists(f)) << f;
    EXPECT_GT(fs::file_size(f), 1000u) << f;
  }
  std::ifstream png(dir / "trajectory.png", std::ios::binary);
  char sig[8] = {};
  png.read(sig, 8);
  EXPECT_EQ(std::string(sig, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const Status missing = PlotTrajectories((dir / "nope.h5").string(), dir.string(), o, &written);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("nope.h5"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace posebatch
