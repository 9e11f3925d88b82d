// Preprocessing and HeatmapPredictor against references computed in Python, and against
// DeepLabCut's own golden outputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "npy.h"
#include "posebatch/frame_source.h"
#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "preprocess/normalize.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;
using testing::LoadNpy;

at::Tensor ToTensor(const testing::NpyArray& a) {
  at::Tensor t = at::empty(a.shape, at::kDouble);
  std::copy(a.data.begin(), a.data.end(), t.data_ptr<double>());
  return t.to(at::kFloat);
}

TEST(Normalize, BitIdenticalToNumpy) {
  auto src = OpenImages({Fixture("norm/input.png")});
  Frame f;
  ASSERT_TRUE(src->Next(&f));
  InputSpec spec;
  InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, spec, "x");
  ASSERT_EQ(g.width, 70);
  ASSERT_EQ(g.height, 50);
  std::vector<float> out(3 * 70 * 50);
  Normalizer(spec).Write(f, g, out.data());
  auto expected = LoadNpy(Fixture("norm/expected.npy"));
  ASSERT_EQ(expected.size(), static_cast<int64_t>(out.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i], static_cast<float>(expected.data[i])) << "element " << i;
  }
}

TEST(Normalize, CropAndPadding) {
  auto src = OpenImages({Fixture("norm/input.png")});
  Frame f;
  ASSERT_TRUE(src->Next(&f));
  InputSpec spec;
  spec.pad_multiple = 32;
  PreprocessOptions pre;
  pre.crop = Crop{10, 50, 5, 45};  // 40x40 -> padded to 64x64
  InputGeometry g = ComputeGeometry(f.width, f.height, pre, spec, "x");
  EXPECT_EQ(g.width, 64);
  EXPECT_EQ(g.height, 64);
  std::vector<float> out(3 * 64 * 64);
  Normalizer(spec).Write(f, g, out.data());
  auto expected = LoadNpy(Fixture("norm/expected.npy"));  // (3, 50, 70)
  auto at = [&](int c, int y, int x) { return static_cast<float>(expected.data[(c * 50 + y) * 70 + x]); };
  EXPECT_EQ(out[0], at(0, 5, 10));
  EXPECT_EQ(out[(1 * 64 + 3) * 64 + 7], at(1, 8, 17));
  // Reflect-101 padding: column 40 of the crop mirrors column 38.
  EXPECT_EQ(out[(2 * 64 + 0) * 64 + 40], at(2, 5, 10 + 38));
  EXPECT_EQ(out[(0 * 64 + 41) * 64 + 0], at(0, 5 + 37, 10));  // row 41 mirrors row 37
  pre.crop = Crop{10, 80, 5, 45};
  EXPECT_THROW(ComputeGeometry(f.width, f.height, pre, spec, "x"), Error);
}

TEST(HeatmapPredictor, MatchesPythonReference) {
  at::Tensor heat = ToTensor(LoadNpy(Fixture("pred/heatmap.npy")));
  at::Tensor loc = ToTensor(LoadNpy(Fixture("pred/locref.npy")));
  for (bool sigmoid : {true, false}) {
    HeatmapHeadSpec head;
    head.num_keypoints = 5;
    head.stride = 8;
    head.apply_sigmoid = sigmoid;
    head.clip_scores = !sigmoid;
    at::Tensor got = PredictHeatmapPoses(heat, loc, head);
    auto exp = LoadNpy(Fixture(std::string("pred/expected_sigmoid") + (sigmoid ? "1_clip0" : "0_clip1") + ".npy"));
    ASSERT_EQ(got.numel(), exp.size());
    const float* g = got.data_ptr<float>();
    for (int64_t i = 0; i < exp.size(); ++i) EXPECT_NEAR(g[i], exp.data[i], 1e-4) << i;
  }
}

// DeepLabCut 3.0.1's own HeatmapPredictor outputs on its own head outputs.
TEST(HeatmapPredictor, MatchesDeepLabCutGolden) {
  for (int frame : {0, 1}) {
    std::string base = Golden("r50_bu_single/frame" + std::to_string(frame));
    at::Tensor heat = ToTensor(LoadNpy(base + "_out_bodypart_heatmap.npy"));
    at::Tensor loc = ToTensor(LoadNpy(base + "_out_bodypart_locref.npy"));
    auto expected = LoadNpy(base + "_pred_bodypart_poses.npy");
    auto final_kp = LoadNpy(base + "_final_bodyparts.npy");
    HeatmapHeadSpec head;
    head.num_keypoints = 4;
    head.stride = 8;  // output_stride 16 / deconvolution stride 2
    head.apply_sigmoid = false;
    head.clip_scores = true;
    at::Tensor got = PredictHeatmapPoses(heat, loc, head);
    ASSERT_EQ(got.numel(), expected.size());
    ASSERT_EQ(got.numel(), final_kp.size());
    const float* g = got.data_ptr<float>();
    for (int64_t i = 0; i < expected.size(); ++i) {
      const double tol = (i % 3 == 2) ? 1e-5 : 1e-3;  // scores / pixels
      EXPECT_NEAR(g[i], expected.data[i], tol) << "frame " << frame << " value " << i;
      EXPECT_NEAR(g[i], final_kp.data[i], tol) << "frame " << frame << " value " << i;
    }
  }
}

TEST(HeatmapPredictor, WrongShapesAreModelErrors) {
  HeatmapHeadSpec head;
  head.num_keypoints = 4;
  HeadOutputs outs;
  outs["bodypart"]["heatmap"] = at::zeros({2, 3, 5, 5});
  outs["bodypart"]["locref"] = at::zeros({2, 8, 5, 5});
  try {
    ValidateHeatmapOutputs(outs, head, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kModelError);
    EXPECT_NE(e.status().message().find("[2, 4, H, W]"), std::string::npos) << e.what();
  }
  outs["bodypart"]["heatmap"] = at::zeros({2, 4, 5, 5});
  EXPECT_NO_THROW(ValidateHeatmapOutputs(outs, head, 2));
  outs["bodypart"]["locref"] = at::zeros({2, 4, 5, 5});
  EXPECT_THROW(ValidateHeatmapOutputs(outs, head, 2), Error);
}

}  // namespace
}  // namespace posebatch
