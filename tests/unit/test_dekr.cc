// Multi-animal bottom-up DEKR: the native DEKR heads (with their deformable convolutions) and
// DeepLabCut's DEKRPredictor on the golden dekr_w18_multi case (DeepLabCut 3.0.1's own
// outputs), and DeepLabCut's bottom-up postprocessing from predictions to final keypoints.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "dlc_export.h"
#include "model/config_internal.h"
#include "model/native/deform_conv.h"
#include "model/native/native_network.h"
#include "model/native/registry.h"
#include "npy.h"
#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "preprocess/normalize.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;
using testing::LoadNpy;
using testing::NpyTensor;

const char* kCase = "dekr_w18_multi";

std::string FrameBase(int frame) { return Golden(std::string(kCase) + "/frame" + std::to_string(frame)); }

ModelSpec GoldenSpec() { return LoadModelConfig(Golden(std::string(kCase) + "/config.yaml")); }

double MaxAbs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// DeepLabCut's bottom-up postprocessor (data/postprocessor.py, build_bottom_up_postprocessor)
// for one image without identity or unique bodyparts: RescaleAndOffset (KEYPOINT mode) maps
// x, y of every row, the -1 rows of suppressed animals included, to frame pixels as
// x * scale + offset (scale = frame size / network input size, offset = minus the padding
// added before the frame's top-left corner); scores are left alone (clipping, if any, was
// the predictor's); PadOutputs then appends rows of -1 (x, y and score) up to the number of
// individuals (never trims).
at::Tensor FinalizeBottomUp(const at::Tensor& poses, int64_t max_individuals, std::array<double, 2> scale,
                            std::array<double, 2> offset) {
  at::Tensor out = poses.to(at::kDouble).clone();  // DeepLabCut rescales in numpy float arrays
  for (int c = 0; c < 2; ++c) out.select(2, c).mul_(scale[c]).add_(offset[c]);
  out = out.to(poses.scalar_type());
  if (out.size(0) < max_individuals) {
    out = at::cat({out, at::full({max_individuals - out.size(0), out.size(1), out.size(2)}, -1.0, out.options())});
  }
  return out;
}

// (A, K, 3) poses against DeepLabCut's: positions within 1e-3 px, scores within 1e-5.
// Returns the largest position and score errors.
std::pair<double, double> ExpectSamePoses(const at::Tensor& got_in, const testing::NpyArray& want,
                                          const std::string& what) {
  const at::Tensor got = got_in.contiguous();
  EXPECT_EQ(std::vector<int64_t>(got.sizes().begin(), got.sizes().end()), want.shape) << what;
  if (got.numel() != want.size()) return {INFINITY, INFINITY};
  const float* g = got.data_ptr<float>();
  double pos = 0, score = 0;
  for (int64_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(g[i] - want.data[i]);
    EXPECT_FALSE(std::isnan(g[i]) || std::isnan(want.data[i])) << what << " value " << i;
    if (i % 3 < 2) {
      pos = std::max(pos, err);
      EXPECT_LE(err, 1e-3) << what << " value " << i << ": " << g[i] << " vs " << want.data[i];
    } else {
      score = std::max(score, err);
      EXPECT_LE(err, 1e-5) << what << " value " << i << ": " << g[i] << " vs " << want.data[i];
    }
  }
  return {pos, score};
}

// DeepLabCut's predictor zeroes, in place, every centre-heatmap value that is not the maximum
// of its 5x5 window, and the golden raw outputs were saved after it ran: compare our centre
// channel masked the same way.
at::Tensor MaskedLikeDeepLabCut(at::Tensor heatmap) {
  heatmap = heatmap.clone();
  at::Tensor centre = heatmap.select(1, heatmap.size(1) - 1);
  const at::Tensor pooled = at::max_pool2d(centre, {5, 5}, {1, 1}, {2, 2});
  centre.mul_(at::eq(pooled, centre).to(at::kFloat));
  return heatmap;
}

TEST(DekrPredictor, ConfigIsParsed) {
  const ModelSpec spec = GoldenSpec();
  EXPECT_EQ(spec.predictor, PredictorType::kDekr);
  const DekrPredictorSpec& p = spec.dekr;
  EXPECT_EQ(p.name, "bodypart");
  EXPECT_EQ(p.num_keypoints, 4);
  EXPECT_EQ(p.num_animals, 3);
  EXPECT_DOUBLE_EQ(p.stride, 4.0);  // HRNet (stride 4), DEKR head stride 1
  EXPECT_FALSE(p.apply_sigmoid);
  EXPECT_TRUE(p.clip_scores);
  EXPECT_FALSE(p.use_heatmap);
  EXPECT_EQ(p.keypoint_score_type, "combined");
  EXPECT_DOUBLE_EQ(p.max_absorb_distance, 75);
  EXPECT_DOUBLE_EQ(p.nms_threshold, 0.05);
  EXPECT_TRUE(p.apply_pose_nms);
  EXPECT_EQ(spec.input.pad_multiple, 32);
  EXPECT_FALSE(spec.pose_head.location_refinement);
}

TEST(DekrPredictor, BadConfigsNameTheField) {
  const std::string text = GoldenSpec().config_text;
  auto expect_error = [&](const std::string& from, const std::string& to, const std::string& field) {
    std::string changed = text;
    const auto at = changed.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
    try {
      ParseModelConfig(changed, "bad.yaml");
      ADD_FAILURE() << "accepted: " << to;
    } catch (const Error& e) {
      EXPECT_EQ(e.status().code(), StatusCode::kModelError);
      EXPECT_NE(e.status().message().find(field), std::string::npos) << e.status().message();
      EXPECT_NE(e.status().message().find("bad.yaml"), std::string::npos) << e.status().message();
    }
  };
  expect_error("keypoint_score_type: combined", "keypoint_score_type: mean", "keypoint_score_type");
  expect_error("num_animals: 3", "num_animals: 0", "predictor.num_animals");
  expect_error("type: DEKRPredictor", "type: DEKRPredictorX", "model.heads.bodypart.predictor.type");
  expect_error("method: bu", "method: sideways", "method 'sideways' is not supported");
}

// The network built natively from the golden export, and its outputs for golden frame N.
struct GoldenRun {
  ModelSpec spec;
  std::unique_ptr<Network> net;
  HeadOutputs Run(int frame, double* ms = nullptr) {
    auto src = OpenImages({FrameBase(frame) + ".png"});
    Frame f;
    EXPECT_TRUE(src->Next(&f));
    InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, spec.input, "frame");
    at::Tensor input = at::empty({1, 3, g.height, g.width});
    Normalizer(spec.input).Write(f, g, input.data_ptr<float>());
    c10::InferenceMode guard;
    HeadOutputs out = net->Forward(input);
    if (ms) {  // best of three more, for information
      *ms = INFINITY;
      for (int i = 0; i < 3; ++i) {
        const auto start = std::chrono::steady_clock::now();
        net->Forward(input);
        const auto took = std::chrono::steady_clock::now() - start;
        *ms = std::min(*ms, std::chrono::duration<double, std::milli>(took).count());
      }
    }
    return out;
  }
};

GoldenRun BuildGolden() {
  Export e = ReadExport(Fixture(std::string("dlc/") + kCase + ".pt"));
  GoldenRun r;
  r.spec = ParseModelConfigNode(e.config, "dekr_w18_multi.pt");
  r.net = native::BuildNativeNetwork(e.config, std::move(e.pose), "dekr_w18_multi.pt", "cpu");
  return r;
}

TEST(DekrHead, GoldenRawOutputsPosesAndFinalMatchDeepLabCut) {
  at::set_num_threads(2);
  GoldenRun run = BuildGolden();
  EXPECT_NE(run.net->Describe().find("bodypart"), std::string::npos);
  for (int frame : {0, 1}) {
    const std::string base = FrameBase(frame);
    double ms = 0;
    HeadOutputs out = run.Run(frame, frame == 0 ? &ms : nullptr);
    if (frame == 0) std::printf("dekr_w18 forward, 256x256, batch 1, 2 threads: %.1f ms\n", ms);
    const at::Tensor& heatmap = out["bodypart"]["heatmap"];
    const at::Tensor& offset = out["bodypart"]["offset"];
    for (const char* name : {"heatmap", "offset"}) {
      const at::Tensor want = NpyTensor(base + "_out_bodypart_" + name + ".npy");
      const at::Tensor got = std::string(name) == "heatmap" ? MaskedLikeDeepLabCut(heatmap) : offset;
      ASSERT_EQ(got.sizes(), want.sizes()) << name;
      const double err = MaxAbs(got - want), rel = err / MaxAbs(want);
      EXPECT_LE(rel, 1e-4) << name << " frame " << frame;
      std::printf("%s frame %d %s: max |ours - theirs| = %.3g = %.3g x max |theirs|\n", kCase, frame, name, err, rel);
    }
    const at::Tensor poses = PredictDekrPoses(heatmap, offset, run.spec.dekr);
    ASSERT_EQ(poses.sizes(), (at::IntArrayRef{1, 3, 4, 3}));
    const auto [pos, score] = ExpectSamePoses(poses.select(0, 0), LoadNpy(base + "_pred_bodypart_poses.npy"), "pred");
    std::printf("frame %d poses: max |ours - theirs| = %.3g px, %.3g in score\n", frame, pos, score);
    const at::Tensor final_poses =
        FinalizeBottomUp(poses.select(0, 0), static_cast<int64_t>(run.spec.individuals.size()), {1, 1}, {0, 0});
    ExpectSamePoses(final_poses, LoadNpy(base + "_final_bodyparts.npy"), "final");
  }
}

TEST(DekrPredictor, GoldenOutputsGiveDeepLabCutsPoses) {
  // The predictor alone, on DeepLabCut's own raw outputs. Their centre channel is already
  // peak-masked; masking again keeps every positive peak, and the top three are positive.
  const DekrPredictorSpec spec = GoldenSpec().dekr;
  for (int frame : {0, 1}) {
    const std::string base = FrameBase(frame);
    const at::Tensor poses = PredictDekrPoses(NpyTensor(base + "_out_bodypart_heatmap.npy"),
                                              NpyTensor(base + "_out_bodypart_offset.npy"), spec);
    const auto [pos, score] = ExpectSamePoses(poses.select(0, 0), LoadNpy(base + "_pred_bodypart_poses.npy"), "pred");
    std::printf("frame %d, from DeepLabCut's outputs: max error %.3g px, %.3g in score\n", frame, pos, score);
  }
}

TEST(DekrPredictor, BatchGivesEachImageItsOwnAnimals) {
  const DekrPredictorSpec spec = GoldenSpec().dekr;
  std::vector<at::Tensor> hm, off;
  for (int frame : {1, 0, 1}) {
    hm.push_back(NpyTensor(FrameBase(frame) + "_out_bodypart_heatmap.npy"));
    off.push_back(NpyTensor(FrameBase(frame) + "_out_bodypart_offset.npy"));
  }
  const at::Tensor poses = PredictDekrPoses(at::cat(hm), at::cat(off), spec);
  ASSERT_EQ(poses.sizes(), (at::IntArrayRef{3, 3, 4, 3}));
  int i = 0;
  for (int frame : {1, 0, 1}) {
    ExpectSamePoses(poses.select(0, i++), LoadNpy(FrameBase(frame) + "_pred_bodypart_poses.npy"), "batch");
  }
}

TEST(DekrHead, W18W32W48ConfigsBuildOnTheirHRNets) {
  // DeepLabCut's dekr_w18/w32/w48 templates: HRNet-W18/W32/W48 with interpolated branches
  // (270, 480, 720 channels) and heatmap transitions to 18, 32, 48 channels.
  native::RegisterAll();
  const YAML::Node golden = ReadExport(Fixture(std::string("dlc/") + kCase + ".pt")).config;
  for (auto [width, channels] : {std::pair<int64_t, int64_t>{18, 270}, {32, 480}, {48, 720}}) {
    YAML::Node model = YAML::Clone(golden["model"]);
    model["backbone"]["model_name"] = "hrnet_w" + std::to_string(width);
    YAML::Node head = model["heads"]["bodypart"];
    head["heatmap_config"]["channels"][0] = channels;
    head["heatmap_config"]["channels"][1] = width;
    head["offset_config"]["channels"][0] = channels;
    native::ParamSet params;
    auto backbone = native::BackboneRegistry().at("HRNet")(model["backbone"], params, "backbone.");
    EXPECT_EQ(backbone->out_channels(), channels);
    EXPECT_NO_THROW(native::HeadRegistry().at("DEKRHead")(head, channels, params, "heads.bodypart."));
    // A head configured for another backbone is refused by name.
    native::ParamSet other;
    try {
      native::HeadRegistry().at("DEKRHead")(head, channels + 1, other, "heads.bodypart.");
      ADD_FAILURE() << "a head for " << channels << " channels accepted " << channels + 1;
    } catch (const Error& e) {
      EXPECT_NE(e.status().message().find("heads.bodypart.heatmap_config"), std::string::npos) << e.status().message();
    }
  }
}

TEST(DekrHead, ChannelsLastGivesTheSameOutputs) {
  // --channels-last runs the network NHWC; the deformable convolutions read NCHW copies.
  at::set_num_threads(2);
  GoldenRun run = BuildGolden();
  Export e = ReadExport(Fixture(std::string("dlc/") + kCase + ".pt"));
  auto nhwc = native::BuildNativeNetwork(e.config, std::move(e.pose), "dekr_w18_multi.pt", "cpu", false, true);
  EXPECT_EQ(nhwc->input_layout(), InputLayout::kNHWC);
  c10::InferenceMode guard;
  const at::Tensor input = at::randn({2, 3, 96, 128});
  HeadOutputs a = run.net->Forward(input);
  HeadOutputs b = nhwc->Forward(input.contiguous(at::MemoryFormat::ChannelsLast));
  for (const char* name : {"heatmap", "offset"}) {
    const at::Tensor& x = a["bodypart"][name];
    ASSERT_EQ(x.sizes(), (at::IntArrayRef{2, std::string(name) == "heatmap" ? 5 : 8, 24, 32}));
    EXPECT_LE(MaxAbs(x - b["bodypart"][name]), 1e-4 * MaxAbs(x)) << name;
  }
}

TEST(DekrPredictor, InputsAreNotModified) {
  // DeepLabCut masks its heatmaps in place; ours must leave the caller's tensors alone.
  DekrPredictorSpec spec = GoldenSpec().dekr;
  spec.use_heatmap = true;
  const at::Tensor hm = at::randn({1, 5, 16, 16}), off = at::randn({1, 8, 16, 16});
  const at::Tensor hm_copy = hm.clone(), off_copy = off.clone();
  PredictDekrPoses(hm, off, spec);
  EXPECT_TRUE(hm.equal(hm_copy));
  EXPECT_TRUE(off.equal(off_copy));
}

TEST(DekrPredictor, WrongShapesAreModelErrors) {
  const DekrPredictorSpec spec = GoldenSpec().dekr;
  auto expect_error = [&](const at::Tensor& hm, const at::Tensor& off, const std::string& needle) {
    try {
      PredictDekrPoses(hm, off, spec);
      ADD_FAILURE() << "accepted " << hm.sizes() << " and " << off.sizes();
    } catch (const Error& e) {
      EXPECT_EQ(e.status().code(), StatusCode::kModelError);
      EXPECT_NE(e.status().message().find(needle), std::string::npos) << e.status().message();
    }
  };
  expect_error(at::zeros({1, 4, 8, 8}), at::zeros({1, 8, 8, 8}), "bodypart/heatmap");
  expect_error(at::zeros({1, 5, 8, 8}), at::zeros({1, 6, 8, 8}), "bodypart/offset");
  expect_error(at::zeros({1, 5, 8, 8}), at::zeros({1, 8, 8, 9}), "bodypart/offset");
  expect_error(at::zeros({1, 5, 1, 2}), at::zeros({1, 8, 1, 2}), "num_animals");
}

// ---- The predictor alone on DeepLabCut's own DEKRPredictor results for random inputs
// (tests/data/dekr_predictor_*, made by tests/fixtures/make_dekr_cases.py): sigmoid, heatmap
// absorption, the three score types, clipping, pose NMS with near-duplicate animals, more
// animals than peaks, strides 2 to 8.

TEST(DekrPredictor, RandomCasesMatchDeepLabCut) {
  const std::string dir = POSEBATCH_TEST_DATA;
  const YAML::Node root = YAML::LoadFile(dir + "/dekr_predictor_cases.yaml");
  auto heat = LoadNpy(dir + "/dekr_predictor_heatmap.npy"), off = LoadNpy(dir + "/dekr_predictor_offset.npy"),
       want = LoadNpy(dir + "/dekr_predictor_poses.npy");
  auto slice = [](testing::NpyArray& a, int64_t start, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    EXPECT_LE(start + n, a.size());
    return at::from_blob(a.data.data() + start, shape, at::kDouble).to(at::kFloat);
  };
  int cases = 0, suppressed = 0, exact = 0;
  double pos = 0, score = 0;
  for (const YAML::Node& c : root["cases"]) {
    DekrPredictorSpec spec;
    spec.num_keypoints = c["keypoints"].as<int>();
    spec.num_animals = c["num_animals"].as<int>();
    spec.stride = c["stride"].as<double>();
    spec.apply_sigmoid = c["apply_sigmoid"].as<bool>();
    spec.clip_scores = c["clip_scores"].as<bool>();
    spec.use_heatmap = c["use_heatmap"].as<bool>();
    spec.keypoint_score_type = c["keypoint_score_type"].as<std::string>();
    spec.max_absorb_distance = c["max_absorb_distance"].as<double>();
    spec.nms_threshold = c["nms_threshold"].as<double>();
    spec.apply_pose_nms = c["apply_pose_nms"].as<bool>();
    const int64_t b = c["batch"].as<int64_t>(), k = spec.num_keypoints, h = c["height"].as<int64_t>(),
                  w = c["width"].as<int64_t>(), a = spec.num_animals;
    const at::Tensor poses = PredictDekrPoses(slice(heat, c["heatmap_start"].as<int64_t>(), {b, k + 1, h, w}),
                                              slice(off, c["offset_start"].as<int64_t>(), {b, 2 * k, h, w}), spec);
    const at::Tensor expected = slice(want, c["poses_start"].as<int64_t>(), {b, a, k, 3});
    ASSERT_EQ(poses.sizes(), expected.sizes()) << "case " << cases;
    for (int64_t i = 0; i < b; ++i) {
      testing::NpyArray one;
      one.shape = {a, k, 3};
      const at::Tensor e = expected.select(0, i).to(at::kDouble).contiguous();
      one.data.assign(e.data_ptr<double>(), e.data_ptr<double>() + e.numel());
      const auto [p, s] = ExpectSamePoses(poses.select(0, i), one, "case " + std::to_string(cases));
      pos = std::max(pos, p);
      score = std::max(score, s);
      exact += poses.select(0, i).equal(expected.select(0, i));
      suppressed += expected.select(0, i).eq(-1).all(-1).all(-1).sum().item<int>();
    }
    ++cases;
  }
  EXPECT_EQ(cases, 48);
  EXPECT_GT(suppressed, 0);
  std::printf("%d random cases (%d images, %d identical), %d suppressed poses: max error %.3g px, %.3g in score\n",
              cases, 2 * cases, exact, suppressed, pos, score);
}

TEST(DeformConv2d, CpuLoopMatchesGatherReference) {
  at::manual_seed(7);
  struct Case {
    int64_t n, c, o, h, w, k, stride, padding, dilation;
    double spread;  // offsets up to this many pixels: many samples fall outside the image
  };
  for (const Case& c : {Case{2, 15, 15, 13, 17, 3, 1, 1, 1, 3.0}, Case{1, 4, 6, 9, 7, 3, 2, 1, 1, 8.0},
                        Case{1, 3, 5, 11, 12, 3, 1, 2, 2, 1.5}, Case{3, 2, 2, 5, 5, 1, 1, 0, 1, 20.0}}) {
    const int64_t oh = (c.h + 2 * c.padding - c.dilation * (c.k - 1) - 1) / c.stride + 1;
    const int64_t ow = (c.w + 2 * c.padding - c.dilation * (c.k - 1) - 1) / c.stride + 1;
    const at::Tensor x = at::randn({c.n, c.c, c.h, c.w});
    at::Tensor offset = at::randn({c.n, 2 * c.k * c.k, oh, ow}) * c.spread;
    offset.view(-1).slice(0, 0, 5).fill_(0.0);  // integer positions: exact reads
    const at::Tensor weight = at::randn({c.o, c.c, c.k, c.k}), bias = at::randn({c.o});
    const at::Tensor fast = native::DeformConv2d(x, offset, weight, bias, c.stride, c.padding, c.dilation);
    const at::Tensor ref = native::DeformConv2dReference(x, offset, weight, bias, c.stride, c.padding, c.dilation);
    ASSERT_EQ(fast.sizes(), (at::IntArrayRef{c.n, c.o, oh, ow}));
    EXPECT_LE(MaxAbs(fast - ref), 1e-5 * MaxAbs(ref)) << c.h << "x" << c.w << " stride " << c.stride;
    // With zero offsets it is an ordinary convolution.
    const at::Tensor zero =
        native::DeformConv2d(x, at::zeros_like(offset), weight, bias, c.stride, c.padding, c.dilation);
    const at::Tensor conv =
        at::conv2d(x, weight, bias, {c.stride, c.stride}, {c.padding, c.padding}, {c.dilation, c.dilation});
    EXPECT_LE(MaxAbs(zero - conv), 1e-5 * MaxAbs(conv));
  }
}

}  // namespace
}  // namespace posebatch
