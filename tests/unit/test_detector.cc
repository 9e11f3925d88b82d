// Native detectors (top-down first stage): the MobileNetV3-Large backbone they share, and
// DeepLabCut's own detector outputs on the golden frames.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dlc_export.h"
#include "model/native/box_ops.h"
#include "model/native/detectors.h"
#include "model/native/layers.h"
#include "model/native/mobilenet_v3.h"
#include "npy.h"
#include "posebatch/detector.h"
#include "posebatch/frame_source.h"
#include "posebatch/status.h"
#include "preprocess/normalize.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;
using testing::LoadNpy;

// A golden frame as DeepLabCut gives it to its detector: (1, 3, H, W), normalized as the
// detector config says.
at::Tensor DetectorInput(const std::string& png, const InputSpec& input) {
  auto src = OpenImages({png});
  Frame f;
  EXPECT_TRUE(src->Next(&f)) << png;
  InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, input, png);
  at::Tensor t = at::empty({1, 3, g.height, g.width});
  Normalizer(input).Write(f, g, t.data_ptr<float>());
  return t;
}

// DeepLabCut's detector runner output on the golden frames: same boxes (x, y, w, h, frame
// pixels) within 1e-3 px, same scores within 1e-5, same count and order; one image at a time
// and the two frames as one batch.
void ExpectGoldenDetections(const std::string& case_name) {
  Export e = ReadExport(Fixture("dlc/" + case_name + ".pt"));
  ASSERT_FALSE(e.detector.empty());
  auto det = native::BuildNativeDetector(e.config, std::move(e.detector), case_name + ".pt", "cpu");
  std::printf("%s\n", det->Describe().c_str());
  at::set_num_threads(2);
  c10::InferenceMode guard;
  std::vector<at::Tensor> inputs;
  for (int frame : {0, 1})
    inputs.push_back(DetectorInput(Golden(case_name + "/frame" + std::to_string(frame) + ".png"), det->spec().input));
  std::vector<Detections> single;
  for (const auto& x : inputs) single.push_back(det->Detect(x)[0]);
  std::vector<Detections> batched = det->Detect(at::cat(inputs, 0));
  ASSERT_EQ(batched.size(), 2u);
  for (int frame : {0, 1}) {
    const std::string base = Golden(case_name + "/frame" + std::to_string(frame));
    auto boxes = LoadNpy(base + "_detector_bboxes.npy");
    auto scores = LoadNpy(base + "_detector_scores.npy");
    for (const Detections* d : {&single[frame], &batched[frame]}) {
      ASSERT_EQ(d->boxes.dim(), 2);
      ASSERT_EQ(d->boxes.size(0), scores.size()) << "frame " << frame;
      ASSERT_EQ(d->boxes.numel(), boxes.size()) << "frame " << frame;
      const float* b = d->boxes.data_ptr<float>();
      const float* s = d->scores.data_ptr<float>();
      double max_box = 0, max_score = 0;
      for (int64_t i = 0; i < boxes.size(); ++i) {
        EXPECT_NEAR(b[i], boxes.data[i], 1e-3) << "frame " << frame << " box value " << i;
        max_box = std::max(max_box, std::abs(b[i] - boxes.data[i]));
      }
      for (int64_t i = 0; i < scores.size(); ++i) {
        EXPECT_NEAR(s[i], scores.data[i], 1e-5) << "frame " << frame << " score " << i;
        max_score = std::max(max_score, std::abs(s[i] - scores.data[i]));
      }
      std::printf("%s frame %d (%s): %lld boxes, max |ours - theirs| = %.3g px, scores %.3g\n", case_name.c_str(),
                  frame, d == &single[frame] ? "alone" : "batch of 2", static_cast<long long>(scores.size()), max_box,
                  max_score);
    }
  }
}

// The tensors of `sd` whose names start with `prefix`.
native::StateDict WithPrefix(const native::StateDict& sd, const std::string& prefix) {
  native::StateDict out;
  for (const auto& [k, v] : sd)
    if (k.rfind(prefix, 0) == 0) out[k] = v;
  return out;
}

TEST(MobileNetV3, SsdliteBackboneLoadsDeepLabCutWeightsStrictly) {
  // DeepLabCut builds SSDLite without ImageNet weights: torchvision then halves the tail.
  Export e = ReadExport(Fixture("dlc/td_ssdlite_r50.pt"));
  native::StateDict sd = WithPrefix(e.detector, "model.backbone.features.");
  ASSERT_GT(sd.size(), 200u);
  native::ParamSet params;
  native::MobileNetV3Options opt;
  opt.reduced_tail = true;
  native::MobileNetV3Large net(params, native::SsdliteMobileNetV3Namer("model.backbone."), opt);
  params.Load(sd, "td_ssdlite_r50.pt");  // strict: every tensor used, shapes checked
  EXPECT_EQ(net.expanded_channels(13), 672);
  EXPECT_EQ(net.out_channels(16), 480);
  c10::InferenceMode guard;
  at::Tensor c4 = net.Expand(net.Run(at::randn({2, 3, 320, 320}), 0, 13), 13);
  EXPECT_EQ(c4.sizes(), (at::IntArrayRef{2, 672, 20, 20}));
  at::Tensor c5 = net.Run(net.FinishExpanded(c4, 13), 14, 17);
  EXPECT_EQ(c5.sizes(), (at::IntArrayRef{2, 480, 10, 10}));
  // The split layer equals the whole layer.
  at::Tensor x = at::randn({1, 112, 20, 20});
  at::Tensor whole = net.Run(x, 13, 14), split = net.FinishExpanded(net.Expand(x, 13), 13);
  EXPECT_TRUE(at::allclose(whole, split, 0, 0));
}

TEST(MobileNetV3, FasterRcnnBackboneMatchesDeepLabCutStateDict) {
  // Faster R-CNN's backbone as DeepLabCut builds it: full tail, FrozenBatchNorm2d (no
  // num_batches_tracked), torchvision's names under model.backbone.body. The weights are not
  // stored; the manifest lists every tensor's name and shape.
  YAML::Node manifest = YAML::LoadFile(Golden("td_frcnn_r50/detector_manifest.json"));
  native::StateDict sd;
  for (const auto& t : manifest["tensors"]) {
    const std::string name = t[0].as<std::string>();
    if (name.rfind("model.backbone.body.", 0) != 0) continue;
    std::vector<int64_t> shape = t[1].as<std::vector<int64_t>>();
    sd[name] = name.find("running_var") != std::string::npos ? at::rand(shape) + 0.5 : at::randn(shape);
  }
  ASSERT_GT(sd.size(), 200u);
  native::ParamSet params;
  native::MobileNetV3Options opt;
  opt.norm = native::Norm2d::Kind::kFrozenBatch;
  opt.eps = 1e-5;
  native::MobileNetV3Large net(params, native::TorchvisionMobileNetV3Namer("model.backbone.body."), opt);
  params.Load(sd, "td_frcnn_r50 manifest");
  c10::InferenceMode guard;
  at::Tensor c4 = net.Run(at::randn({1, 3, 256, 320}), 0, 14);
  EXPECT_EQ(c4.sizes(), (at::IntArrayRef{1, 160, 8, 10}));
  EXPECT_EQ(net.Run(c4, 14, 17).sizes(), (at::IntArrayRef{1, 960, 8, 10}));
}

TEST(MobileNetV3, FrozenBatchNormEqualsBatchNorm) {
  native::ParamSet pf, pb;
  native::Norm2d frozen(pf, "n.", 8, native::Norm2d::Kind::kFrozenBatch, 32, 1e-5);
  native::Norm2d batch(pb, "n.", 8, native::Norm2d::Kind::kBatch, 32, 1e-5);
  native::StateDict sf{{"n.weight", at::randn({8})},
                       {"n.bias", at::randn({8})},
                       {"n.running_mean", at::randn({8})},
                       {"n.running_var", at::rand({8}) + 0.1}};
  native::StateDict sb = sf;
  sb["n.num_batches_tracked"] = at::zeros({}, at::kLong);
  pf.Load(sf, "frozen");
  pb.Load(sb, "batch");
  at::Tensor x = at::randn({2, 8, 5, 7});
  EXPECT_TRUE(at::allclose(frozen(x), batch(x), 1e-5, 1e-5));
  // A frozen norm has no num_batches_tracked: a state dict with one is refused.
  native::ParamSet pf2;
  native::Norm2d frozen2(pf2, "n.", 8, native::Norm2d::Kind::kFrozenBatch, 32, 1e-5);
  native::StateDict extra = sb;
  EXPECT_THROW(pf2.Load(extra, "frozen"), Error);
}

TEST(Detector, GoldenSsdliteBoxesMatchDeepLabCut) { ExpectGoldenDetections("td_ssdlite_r50"); }

TEST(Detector, SsdliteSpecFollowsDeepLabCutAndTorchvision) {
  Export e = ReadExport(Fixture("dlc/td_ssdlite_r50.pt"));
  DetectorSpec parsed = native::ParseDetectorSpec(e.config, "td_ssdlite_r50.pt");
  EXPECT_EQ(parsed.type, "SSDLite");
  EXPECT_EQ(parsed.max_detections, static_cast<int>(e.config["metadata"]["individuals"].size()));
  auto det = native::BuildNativeDetector(e.config, std::move(e.detector), "td_ssdlite_r50.pt", "cpu");
  // torchvision's ssdlite builder ignores box_score_thresh: its own 0.001 applies.
  EXPECT_DOUBLE_EQ(det->spec().score_threshold, 0.001);
  EXPECT_NE(det->Describe().find("SSDLite"), std::string::npos);
}

TEST(Detector, SsdliteWithNothingAboveThresholdReturnsNoBoxes) {
  // The animal logit pushed far below the background's on every anchor: every score is ~0,
  // below torchvision's 0.001, so every image gets an empty (0, 4) result.
  Export e = ReadExport(Fixture("dlc/td_ssdlite_r50.pt"));
  for (int i = 0; i < 6; ++i) {
    at::Tensor& bias = e.detector["model.head.classification_head.module_list." + std::to_string(i) + ".1.bias"];
    bias = bias.clone();
    bias.view({-1, 2}).select(1, 1).fill_(-100.0);
  }
  auto det = native::BuildNativeDetector(e.config, std::move(e.detector), "td_ssdlite_r50.pt", "cpu");
  c10::InferenceMode guard;
  at::Tensor x = DetectorInput(Golden("td_ssdlite_r50/frame0.png"), det->spec().input);
  std::vector<Detections> out = det->Detect(at::cat({x, x}, 0));
  ASSERT_EQ(out.size(), 2u);
  for (const auto& d : out) {
    EXPECT_EQ(d.boxes.sizes(), (at::IntArrayRef{0, 4}));
    EXPECT_EQ(d.scores.sizes(), (at::IntArrayRef{0}));
  }
}

TEST(Detector, UnknownDetectorAndMismatchedWeightsAreNamedErrors) {
  Export e = ReadExport(Fixture("dlc/td_ssdlite_r50.pt"));
  YAML::Node cfg = YAML::Clone(e.config);
  cfg["detector"]["model"]["type"] = "RetinaNet";
  try {
    native::BuildNativeDetector(cfg, e.detector, "x.pt", "cpu");
    ADD_FAILURE() << "RetinaNet accepted";
  } catch (const Error& err) {
    EXPECT_NE(err.status().message().find("RetinaNet"), std::string::npos) << err.status().message();
  }
  native::StateDict broken = e.detector;
  broken.erase("model.head.regression_head.module_list.5.1.bias");
  try {
    native::BuildNativeDetector(e.config, broken, "x.pt", "cpu");
    ADD_FAILURE() << "missing tensor accepted";
  } catch (const Error& err) {
    EXPECT_NE(err.status().message().find("module_list.5.1.bias"), std::string::npos) << err.status().message();
  }
  YAML::Node no_detector = YAML::Clone(e.config);
  no_detector.remove("detector");
  EXPECT_THROW(native::ParseDetectorSpec(no_detector, "x.pt"), Error);
}

TEST(BoxOps, NmsKeepsTheBestOfOverlappingBoxesAndBreaksTiesByOrder) {
  // Two near-identical boxes (IoU 0.9), one apart; equal scores keep the first.
  at::Tensor boxes = at::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 9.f, 20.f, 20.f, 30.f, 30.f}).view({3, 4});
  at::Tensor kept = native::Nms(boxes, at::tensor({0.5f, 0.9f, 0.7f}), 0.55);
  EXPECT_TRUE(at::equal(kept, at::tensor({int64_t{1}, int64_t{2}})));
  kept = native::Nms(boxes, at::tensor({0.8f, 0.8f, 0.8f}), 0.55);
  EXPECT_TRUE(at::equal(kept, at::tensor({int64_t{0}, int64_t{2}})));
  // IoU exactly at the threshold is kept (torchvision drops only IoU > threshold).
  at::Tensor half = at::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 5.f}).view({2, 4});
  EXPECT_EQ(native::Nms(half, at::tensor({0.9f, 0.8f}), 0.5).size(0), 2);
  // Many equal scores (disjoint boxes, four score levels): by score, then by index, as
  // torchvision's stable sort orders them.
  std::vector<float> many, levels;
  for (int i = 0; i < 200; ++i) {
    many.insert(many.end(), {20.f * i, 0.f, 20.f * i + 10.f, 10.f});
    levels.push_back(0.25f * static_cast<float>((i * 7) % 4));
  }
  kept = native::Nms(at::tensor(many).view({-1, 4}), at::tensor(levels), 0.55);
  ASSERT_EQ(kept.size(0), 200);
  for (int64_t i = 1; i < 200; ++i) {
    const int64_t a = kept[i - 1].item<int64_t>(), b = kept[i].item<int64_t>();
    EXPECT_TRUE(levels[a] > levels[b] || (levels[a] == levels[b] && a < b)) << "position " << i;
  }
  // Categories never suppress each other.
  at::Tensor two = at::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 10.f}).view({2, 4});
  EXPECT_EQ(native::BatchedNms(two, at::tensor({0.9f, 0.8f}), at::tensor({int64_t{1}, int64_t{2}}), 0.5).size(0), 2);
  EXPECT_EQ(native::BatchedNms(two, at::tensor({0.9f, 0.8f}), at::tensor({int64_t{1}, int64_t{1}}), 0.5).size(0), 1);
}

}  // namespace
}  // namespace posebatch

namespace posebatch {
namespace {

// Timing, not a check: run with --gtest_also_run_disabled_tests.
TEST(Detector, DISABLED_SsdliteForwardTime) {
  Export e = ReadExport(Fixture("dlc/td_ssdlite_r50.pt"));
  auto det = native::BuildNativeDetector(e.config, std::move(e.detector), "td_ssdlite_r50.pt", "cpu");
  at::set_num_threads(2);
  c10::InferenceMode guard;
  for (int64_t batch : {1, 8}) {
    at::Tensor x = at::randn({batch, 3, 480, 640});
    det->Detect(x);  // warm-up
    const int reps = batch == 1 ? 20 : 5;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) det->Detect(x);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    std::printf("SSDLite 640x480, batch %lld, 2 threads: %.1f ms per batch, %.1f ms per image\n",
                static_cast<long long>(batch), ms, ms / batch);
  }
}

}  // namespace
}  // namespace posebatch
