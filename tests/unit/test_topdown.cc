// Top-down pose estimation against DeepLabCut's own numbers: its crops (top_down_crop with
// cv2.resize), the pose network on them, and its postprocessor (back to frame pixels, -1 rows
// for missing individuals).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <vector>

#include "dlc_export.h"
#include "model/config_internal.h"
#include "model/native/native_network.h"
#include "npy.h"
#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "predict/topdown_postprocess.h"
#include "preprocess/topdown_crop.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;
using testing::LoadNpy;

Frame ReadFrame(const std::string& png) {
  auto src = OpenImages({png});
  Frame f;
  EXPECT_TRUE(src->Next(&f)) << png;
  return f;
}

std::vector<std::array<double, 4>> ReadBoxes(const std::string& npy) {
  auto a = LoadNpy(npy);
  std::vector<std::array<double, 4>> boxes(static_cast<size_t>(a.size() / 4));
  for (size_t i = 0; i < boxes.size(); ++i) {
    for (size_t j = 0; j < 4; ++j) boxes[i][j] = a.data[4 * i + j];
  }
  return boxes;
}

// Every value within 1e-3 px (coordinates) or 1e-5 (scores); returns the largest differences.
std::array<double, 2> ExpectPosesNear(const at::Tensor& got, const std::string& npy,
                                      const std::string& what) {
  auto expected = LoadNpy(npy);
  EXPECT_EQ(got.numel(), expected.size()) << what;
  std::array<double, 2> worst{0, 0};
  if (got.numel() != expected.size()) return worst;
  const at::Tensor g = got.to(at::kDouble).contiguous();
  const double* p = g.data_ptr<double>();
  for (int64_t i = 0; i < expected.size(); ++i) {
    const bool score = i % 3 == 2;
    const double d = std::abs(p[i] - expected.data[i]);
    worst[score] = std::max(worst[score], d);
    EXPECT_NEAR(p[i], expected.data[i], score ? 1e-5 : 1e-3) << what << " value " << i;
  }
  return worst;
}

void ExpectGoldenTopDown(const std::string& case_name) {
  Export e = ReadExport(Fixture("dlc/" + case_name + ".pt"));
  const ModelSpec spec = ParseModelConfigNode(e.config, case_name);
  ASSERT_EQ(spec.method, "td");
  const TopDownCropSpec crop = ParseTopDownCropSpec(e.config, case_name);
  EXPECT_TRUE(crop.with_context);
  auto net = native::BuildNativeNetwork(e.config, std::move(e.pose), case_name, "cpu");
  const TopDownCropper cropper(spec.input);
  at::set_num_threads(2);
  for (int frame : {0, 1}) {
    const std::string base = Golden(case_name + "/frame" + std::to_string(frame));
    const Frame f = ReadFrame(base + ".png");
    const auto boxes = ReadBoxes(base + "_bboxes.npy");
    ASSERT_FALSE(boxes.empty());
    at::Tensor input = at::empty({static_cast<int64_t>(boxes.size()), 3, crop.height, crop.width});
    std::vector<CropTransform> transforms;
    for (size_t i = 0; i < boxes.size(); ++i) {
      const CropPlan plan = PlanTopDownCrop(boxes[i], f.width, f.height, crop);
      cropper.Write(f, plan, input[i].data_ptr<float>());
      transforms.push_back(plan.transform);
    }
    c10::InferenceMode guard;
    HeadOutputs out = net->Forward(input);
    const at::Tensor crop_poses =
        PredictHeatmapPoses(out["bodypart"]["heatmap"], out["bodypart"]["locref"], spec.pose_head);
    const int individuals = static_cast<int>(spec.individuals.size());
    const at::Tensor poses = TopDownFramePoses(crop_poses, transforms, individuals);
    const auto worst = ExpectPosesNear(poses, base + "_final_bodyparts.npy",
                                       case_name + " frame " + std::to_string(frame));
    std::printf("%s frame %d: %zu boxes, max |ours - theirs| = %.3g px, scores %.3g\n",
                case_name.c_str(), frame, boxes.size(), worst[0], worst[1]);
    const at::Tensor final_boxes = TopDownFrameBoxes(boxes, individuals);
    auto expected_boxes = LoadNpy(base + "_final_bboxes.npy");
    ASSERT_EQ(final_boxes.numel(), expected_boxes.size());
    for (int64_t i = 0; i < expected_boxes.size(); ++i) {
      EXPECT_EQ(final_boxes.data_ptr<double>()[i], expected_boxes.data[i]) << "box value " << i;
    }
  }
}

TEST(TopDown, GoldenSSDLiteResNet50PoseMatchesDeepLabCut) { ExpectGoldenTopDown("td_ssdlite_r50"); }

TEST(TopDown, GoldenFasterRCNNResNet50PoseMatchesDeepLabCut) {
  ExpectGoldenTopDown("td_frcnn_r50");
}

TEST(TopDown, CropPlanFollowsDeepLabCutsArithmetic) {
  TopDownCropSpec spec;  // 256x256, with context
  // A 90x60 box widened to 90x90 around its centre (75, 70): x1 = round(30) = 30,
  // y1 = round(25) = 25, no padding, scale 90/256.
  CropPlan p = PlanTopDownCrop({30, 40, 90, 60}, 320, 256, spec);
  EXPECT_EQ(p.x1, 30);
  EXPECT_EQ(p.y1, 25);
  EXPECT_EQ(p.canvas_w(), 90);
  EXPECT_EQ(p.canvas_h(), 90);
  EXPECT_DOUBLE_EQ(p.transform.scale_x, 90.0 / 256);
  // Partly outside: x from -20 (padded 20 left), Python's half-to-even rounding of 2.5 -> 2.
  p = PlanTopDownCrop({-20, 200, 80, 90}, 320, 256, spec);
  EXPECT_EQ(p.pad_left, 25);  // centre 20, width 90: x1 = round(-25) = -25
  EXPECT_EQ(p.transform.offset_x, -25);
  EXPECT_EQ(p.pad_y, 90 - (256 - 200));
  EXPECT_EQ(PlanTopDownCrop({0.5, 0, 2, 2}, 320, 256, spec).x1, 0);  // round(0.5) = 0
  EXPECT_EQ(PlanTopDownCrop({1.5, 0, 2, 2}, 320, 256, spec).x1, 2);  // round(1.5) = 2
  // Without context (CTD): a 100x50 box is padded symmetrically to 100x100.
  spec.with_context = false;
  p = PlanTopDownCrop({100, 100, 100, 50}, 320, 256, spec);
  EXPECT_EQ(p.pad_top, 25);
  EXPECT_EQ(p.pad_y, 50);
  EXPECT_EQ(p.pad_x, 0);
  EXPECT_DOUBLE_EQ(p.transform.offset_y, 75);
  // A box entirely outside the frame leaves nothing to crop: a clear error.
  EXPECT_THROW(PlanTopDownCrop({400, 10, 20, 20}, 320, 256, spec), Error);
}

TEST(TopDown, CropLayoutsHoldTheSameValues) {
  Frame f;
  f.width = 40;
  f.height = 30;
  f.rgb.resize(3 * 40 * 30);
  for (size_t i = 0; i < f.rgb.size(); ++i) f.rgb[i] = static_cast<uint8_t>((i * 37) % 251);
  const TopDownCropSpec spec{24, 16, 2, true};
  const CropPlan plan = PlanTopDownCrop({-5, 3, 30, 20}, f.width, f.height, spec);
  const TopDownCropper cropper{InputSpec{}};
  at::Tensor nchw = at::empty({3, 16, 24});
  at::Tensor nhwc = at::empty({16, 24, 3});
  cropper.Write(f, plan, nchw.data_ptr<float>(), InputLayout::kNCHW);
  cropper.Write(f, plan, nhwc.data_ptr<float>(), InputLayout::kNHWC);
  EXPECT_TRUE(at::equal(nchw, nhwc.permute({2, 0, 1})));
  // Padding outside the frame is black before normalization: the crop's left columns.
  std::vector<uint8_t> bytes(3 * 24 * 16);
  cropper.WriteBytes(f, plan, bytes.data());
  EXPECT_EQ(bytes[0], 0);
  EXPECT_NE(bytes[3 * 23], 0);
}

}  // namespace
}  // namespace posebatch
