// Top-down pose estimation against DeepLabCut's own numbers: its crops (top_down_crop with
// cv2.resize), the pose network on them, and its postprocessor (back to frame pixels, -1 rows
// for missing individuals).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <vector>

#include "dlc_export.h"
#include "model/config_internal.h"
#include "model/native/cond_prenet.h"
#include "model/native/native_network.h"
#include "npy.h"
#include "posebatch/conditional_network.h"
#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "predict/ctd_tracking.h"
#include "predict/simcc_predictor.h"
#include "predict/topdown_postprocess.h"
#include "preprocess/ctd_conditions.h"
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
std::array<double, 2> ExpectPosesNear(const at::Tensor& got, const std::string& npy, const std::string& what) {
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
  ASSERT_EQ(spec.method, Method::kTopDown);
  const TopDownCropSpec crop = ParseTopDownCropSpec(e.config, case_name);
  EXPECT_TRUE(crop.with_context);
  EXPECT_EQ(spec.crop.width, crop.width);
  EXPECT_EQ(spec.crop.height, crop.height);
  EXPECT_TRUE(spec.crop.with_context);
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
    const auto worst =
        ExpectPosesNear(poses, base + "_final_bodyparts.npy", case_name + " frame " + std::to_string(frame));
    std::printf("%s frame %d: %zu boxes, max |ours - theirs| = %.3g px, scores %.3g\n", case_name.c_str(), frame,
                boxes.size(), worst[0], worst[1]);
    const at::Tensor final_boxes = TopDownFrameBoxes(boxes, individuals);
    auto expected_boxes = LoadNpy(base + "_final_bboxes.npy");
    ASSERT_EQ(final_boxes.numel(), expected_boxes.size());
    for (int64_t i = 0; i < expected_boxes.size(); ++i) {
      EXPECT_EQ(final_boxes.data_ptr<double>()[i], expected_boxes.data[i]) << "box value " << i;
    }
  }
}

TEST(TopDown, GoldenSSDLiteResNet50PoseMatchesDeepLabCut) { ExpectGoldenTopDown("td_ssdlite_r50"); }

TEST(TopDown, GoldenFasterRCNNResNet50PoseMatchesDeepLabCut) { ExpectGoldenTopDown("td_frcnn_r50"); }

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

// DeepLabCut's CTD on given conditions: filtering, boxes, crops without context, the
// CondPreNet + CSPNeXt + RTMCC network with its encoded conditions, SimCC decoding, rescoring.
TEST(ConditionalTopDown, GoldenRTMPoseSMatchesDeepLabCut) {
  const std::string case_name = "ctd_rtmpose_s";
  Export e = ReadExport(Fixture("dlc/" + case_name + ".pt"));
  ASSERT_EQ(e.config["method"].as<std::string>(), "ctd");
  const TopDownCropSpec crop = ParseTopDownCropSpec(e.config, case_name);
  EXPECT_FALSE(crop.with_context);
  const double margin = e.config["data"]["bbox_margin"].as<double>();
  const int individuals = static_cast<int>(e.config["metadata"]["individuals"].size());
  const SimCCPredictorSpec simcc = ParseSimCCPredictor(e.config["model"]["heads"]["bodypart"]["predictor"], case_name);
  // The typed spec carries the same, parsed once with the config.
  const ModelSpec spec = ParseModelConfigNode(e.config, case_name);
  EXPECT_EQ(spec.method, Method::kConditionalTopDown);
  EXPECT_EQ(spec.predictor, PredictorType::kSimCC);
  EXPECT_STREQ(MethodName(spec.method), "ctd");
  EXPECT_STREQ(PredictorName(spec.predictor), "SimCCPredictor");
  EXPECT_EQ(spec.bbox_margin, margin);
  EXPECT_EQ(spec.crop.width, crop.width);
  EXPECT_EQ(spec.crop.height, crop.height);
  EXPECT_EQ(spec.crop.with_context, crop.with_context);
  EXPECT_EQ(spec.simcc.split_ratio, simcc.split_ratio);
  EXPECT_EQ(spec.simcc.decode_beta, simcc.decode_beta);
  EXPECT_EQ(spec.simcc.sigma_x, simcc.sigma_x);
  auto network = native::BuildNativeNetwork(e.config, std::move(e.pose), case_name, "cpu");
  auto* net = dynamic_cast<ConditionalNetwork*>(network.get());
  ASSERT_NE(net, nullptr) << network->Describe();
  EXPECT_THROW(net->Forward(at::zeros({1, 3, 256, 256})), Error);  // conditions are required
  const int64_t k = net->num_conditions();
  const TopDownCropper cropper{InputSpec{}};
  at::set_num_threads(2);
  for (int frame : {0, 1}) {
    const std::string base = Golden(case_name + "/frame" + std::to_string(frame));
    const Frame f = ReadFrame(base + ".png");
    auto given = LoadNpy(base + "_cond_kpts.npy");
    ASSERT_EQ(given.shape.size(), 3u);
    ASSERT_EQ(given.shape[1], k);
    std::vector<float> conds(given.data.begin(), given.data.end());
    const auto crops = PrepareCtdCrops(conds.data(), given.shape[0], k, f.width, f.height, margin, crop);
    const int64_t n = static_cast<int64_t>(crops.size());
    ASSERT_GT(n, 0);
    at::Tensor input = at::empty({n, 3, crop.height, crop.width});
    at::Tensor cond = at::empty({n, k, 3});
    std::vector<std::array<double, 4>> boxes;
    for (int64_t i = 0; i < n; ++i) {
      cropper.Write(f, crops[i].plan, input[i].data_ptr<float>());
      std::copy(crops[i].conditions.begin(), crops[i].conditions.end(), cond[i].data_ptr<float>());
      boxes.push_back(crops[i].box);
    }
    c10::InferenceMode guard;
    HeadOutputs out = net->Forward(input, cond);
    const at::Tensor crop_poses = PredictSimCCPoses(out["bodypart"]["x"], out["bodypart"]["y"], simcc);
    const at::Tensor poses = CtdFramePoses(crop_poses, crops, individuals);
    const auto worst =
        ExpectPosesNear(poses, base + "_final_bodyparts.npy", case_name + " frame " + std::to_string(frame));
    std::printf("%s frame %d: %lld of %lld conditions kept, max |ours - theirs| = %.3g px, scores %.3g\n",
                case_name.c_str(), frame, static_cast<long long>(n), static_cast<long long>(given.shape[0]), worst[0],
                worst[1]);
    const at::Tensor final_boxes = TopDownFrameBoxes(boxes, individuals);
    auto expected_boxes = LoadNpy(base + "_final_bboxes.npy");
    ASSERT_EQ(final_boxes.numel(), expected_boxes.size());
    for (int64_t i = 0; i < expected_boxes.size(); ++i) {
      EXPECT_EQ(final_boxes.data_ptr<double>()[i], expected_boxes.data[i]) << "box value " << i;
    }
  }
  // Forward time at batch 8 crops, 2 threads (for the report; not a pass/fail figure).
  c10::InferenceMode guard;
  at::Tensor batch = at::randn({8, 3, 256, 256});
  at::Tensor cond = at::rand({8, k, 3}) * 200 + 20;
  net->Forward(batch, cond);
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 3;
  for (int r = 0; r < reps; ++r) net->Forward(batch, cond);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("%s forward, batch 8 crops, 2 threads: %.1f ms (%.2f ms per crop)\n", case_name.c_str(), ms, ms / 8);
}

TEST(ConditionalTopDown, ConditionEncodingFollowsStackedKeypointEncoder) {
  // Three keypoints: one drawn at (row 9, col 19), one with score 0 (not drawn), one at x < 1
  // (numpy's index -1 wraps to the last column).
  const float cond[] = {20.7f, 10.2f, 0.9f, 5.f, 5.f, 0.f, 0.5f, 30.f, 0.4f};
  std::vector<float> maps(3 * 40 * 32);
  EncodeConditions(cond, 3, 40, 32, 40, 32, 15, 15, maps.data());
  const auto at = [&](int c, int y, int x) { return maps[(c * 40 + y) * 32 + x]; };
  EXPECT_FLOAT_EQ(at(0, 9, 19), 255.f);  // the global maximum is rescaled to 255
  EXPECT_GT(at(0, 9, 19), at(0, 9, 20));
  EXPECT_FLOAT_EQ(at(0, 9, 18), at(0, 9, 20));  // symmetric away from the border
  for (int i = 0; i < 40 * 32; ++i) ASSERT_EQ(maps[40 * 32 + i], 0.f);
  EXPECT_GT(at(2, 29, 31), at(2, 29, 30));  // drawn in the last column
  EXPECT_GT(at(2, 29, 31), 255.f * 0.9f);   // reflect-101 folds mass back: near the maximum
  // Out of bounds (x > img_w): nothing is drawn, and an all-zero encoding stays zero.
  const float outside[] = {33.f, 5.f, 1.f};
  std::vector<float> none(40 * 32, 1.f);
  EncodeConditions(outside, 1, 40, 32, 40, 32, 15, 15, none.data());
  for (float v : none) ASSERT_EQ(v, 0.f);
}

TEST(ConditionalTopDown, ConditionsAreFilteredAndBoxedAsDeepLabCutDoes) {
  const float conds[] = {
      10,  20,  0.9f,  30,  40,  0.f,   50, 25, 0.5f,  // kept; the 0-score keypoint is not in the box
      100, 100, 0.04f, 110, 110, 0.01f, 0,  0,  0,     // max score < 0.05: dropped
      5,   5,   0.5f,  5,   5,   0.5f,  5,  5,  0.5f,  // a single point: box of 2 * margin
  };
  const TopDownCropSpec spec{256, 256, 0, false};
  const auto crops = PrepareCtdCrops(conds, 3, 3, 320, 256, 20, spec);
  ASSERT_EQ(crops.size(), 2u);
  EXPECT_EQ(crops[0].box, (std::array<double, 4>{0, 0, 70, 45}));  // clipped at 0
  EXPECT_EQ(crops[1].box, (std::array<double, 4>{0, 0, 25, 25}));
  EXPECT_FLOAT_EQ(crops[0].score_mean, (0.9f + 0.5f) / 3);
  // Conditions in crop pixels: (x - offset) / scale.
  const CropTransform& t = crops[0].plan.transform;
  EXPECT_FLOAT_EQ(crops[0].conditions[0], static_cast<float>((10 - t.offset_x) / t.scale_x));
  // Rescoring: mean of scores >= 0.2 times the condition mean, for every keypoint.
  at::Tensor crop_poses = at::tensor({1.f, 1.f, 0.5f, 2.f, 2.f, 0.1f, 3.f, 3.f, 0.3f}).reshape({1, 3, 3});
  at::Tensor poses = CtdFramePoses(crop_poses, {crops[0]}, 2);
  EXPECT_EQ(poses.size(0), 2);
  EXPECT_FLOAT_EQ(poses[0][1][2].item<float>(), static_cast<float>(crops[0].score_mean * (0.8 / 2)));
  EXPECT_EQ(poses[1][0][0].item<float>(), -1.f);
}

// CTD tracking's building blocks, on cases worked out by hand from DeepLabCut's rules (the
// whole tracker is replayed against a numpy statement of them in tests/python/test_ctd.py).
TEST(CtdTracking, OksCountsTheScoreColumnAndNeedsTwoKeypoints) {
  const float nan = NAN;
  // Two keypoints 10 px apart in x, equal scores: extents (10, 0, 0) + eps + 2*margin.
  const float truth[] = {0, 0, 0.5f, 10, 0, 0.5f};
  const float same[] = {0, 0, 0.5f, 10, 0, 0.5f};
  EXPECT_FLOAT_EQ(TrackingOks(same, truth, 2, 0.1, 1.0), 1.0f);
  // margin 0: the y and score extents are ~eps, the scale ~0: NaN, as np.isclose(scale, 0).
  EXPECT_TRUE(std::isnan(TrackingOks(same, truth, 2, 0.1, 0.0)));
  const float one_visible[] = {0, 0, 0.5f, nan, nan, nan};
  EXPECT_TRUE(std::isnan(TrackingOks(same, one_visible, 2, 0.1, 1.0)));
  // A missing predicted keypoint counts as infinitely far: half the similarity.
  const float half[] = {0, 0, 0.5f, nan, nan, nan};
  EXPECT_FLOAT_EQ(TrackingOks(half, truth, 2, 0.1, 1.0), 0.5f);
}

TEST(CtdTracking, NmsKeepsTheBetterOfTwoOverlappingPoses) {
  // Poses 0 and 2 nearly coincide; 2 scores higher, so 0 goes; 1 is elsewhere.
  at::Tensor poses = at::tensor({10.f, 10.f, 0.5f, 30.f, 40.f, 0.5f,    //
                                 200.f, 10.f, 0.6f, 230.f, 40.f, 0.6f,  //
                                 10.5f, 10.f, 0.9f, 30.f, 40.5f, 0.9f})
                         .reshape({3, 2, 3});
  EXPECT_EQ(NmsOks(poses, 0.9, 0.1, 1.0, 0.01, nullptr), (std::vector<bool>{false, true, true}));
  // Given an order (older tracks first), the first of the pair stays.
  const std::vector<int64_t> order{0, 1, 2};
  EXPECT_EQ(NmsOks(poses, 0.9, 0.1, 1.0, 0.01, &order), (std::vector<bool>{true, true, false}));
  // Below the score threshold nothing is visible: nothing is kept.
  EXPECT_EQ(NmsOks(poses, 0.9, 0.1, 1.0, 0.95, nullptr), (std::vector<bool>{false, false, false}));
}

TEST(CtdTracking, SourceRunsByDeepLabCutsRules) {
  CtdTrackingOptions o;
  o.bu_min_frequency = 3;
  CtdTracker tracker(o);
  const at::Tensor pose = at::tensor({10.f, 10.f, 0.5f, 30.f, 40.f, 0.7f}).reshape({1, 2, 3});
  std::vector<bool> ran;
  for (int frame = 0; frame < 7; ++frame) {
    ran.push_back(tracker.BeginFrame());
    EXPECT_EQ(tracker.rescore(), frame == 0);  // only before the first tracks exist
    const at::Tensor conditions = tracker.Conditions(ran.back() ? pose : at::Tensor());
    ASSERT_EQ(conditions.size(0), 1);
    tracker.EndFrame(at::cat({pose, at::full({1, 2, 3}, -1.f)}), 320, 240);  // one track of two rows
  }
  EXPECT_EQ(ran, (std::vector<bool>{true, false, false, true, false, false, true}));
}

TEST(CtdTracking, SettingsParseWithDeepLabCutsNames) {
  CtdTrackingOptions o;
  ParseCtdTrackingOptions("bu_min_frequency=30, threshold_nms=0.75,bu_on_lost_idv=false", &o);
  EXPECT_EQ(o.bu_min_frequency, 30);
  EXPECT_DOUBLE_EQ(o.threshold_nms, 0.75);
  EXPECT_FALSE(o.bu_on_lost_idv);
  ParseCtdTrackingOptions("bu_min_frequency=none", &o);
  EXPECT_EQ(o.bu_min_frequency, -1);
  EXPECT_THROW(ParseCtdTrackingOptions("bu_min_frequency=2.5", &o), Error);
  EXPECT_THROW(ParseCtdTrackingOptions("threshold_nms", &o), Error);
  EXPECT_THROW(ParseCtdTrackingOptions("nms=0.5", &o), Error);
}

}  // namespace
}  // namespace posebatch
