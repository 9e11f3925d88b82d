// Faster R-CNN (torchvision 0.14, as DeepLabCut 3.0.1 builds and runs it): DeepLabCut's own
// detector outputs on the golden top-down case.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "dlc_export.h"
#include "io/torch_pickle.h"
#include "model/config_internal.h"
#include "model/native/detectors.h"
#include "model/native/exact_linear.h"
#include "model/native/faster_rcnn.h"
#include "npy.h"
#include "posebatch/frame_source.h"
#include "posebatch/status.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;
using testing::LoadNpy;

// A golden frame as DeepLabCut gives it to the detector, (1, 3, H, W): albumentations'
// A.Normalize, i.e. (v - 255 * mean) * (1 / (255 * std)) in float32. That differs from
// (v / 255 - mean) / std by an ulp here and there, and this detector amplifies an ulp of input
// to 1e-3 px of box: the golden boxes are reproduced exactly with this formula only.
at::Tensor GoldenInput(const std::string& base) {
  auto src = OpenImages({base + ".png"});
  Frame f;
  EXPECT_TRUE(src->Next(&f));
  const InputSpec spec;  // ImageNet mean/std, RGB: the detector config's normalize_images
  at::Tensor x = at::empty({1, 3, f.height, f.width});
  float* out = x.data_ptr<float>();
  const int64_t plane = static_cast<int64_t>(f.width) * f.height;
  for (int c = 0; c < 3; ++c) {
    const float mean = spec.mean[c] * 255.0f;
    const float inv_std = 1.0f / (spec.std[c] * 255.0f);
    for (int64_t i = 0; i < plane; ++i) out[c * plane + i] = (static_cast<float>(f.rgb[i * 3 + c]) - mean) * inv_std;
  }
  return x;
}

void ExpectGoldenDetections(int threads) {
  Export e = ReadExport(Fixture("dlc/td_frcnn_r50.pt"));
  ASSERT_FALSE(e.detector.empty());
  auto detector = native::BuildNativeDetector(e.config, e.detector, "td_frcnn_r50.pt", "cpu");
  EXPECT_EQ(detector->spec().variant, "fasterrcnn_mobilenet_v3_large_fpn");
  EXPECT_EQ(detector->spec().max_detections, 2);  // the project's individuals
  at::set_num_threads(threads);
  for (int frame : {0, 1}) {
    const std::string base = Golden("td_frcnn_r50/frame" + std::to_string(frame));
    const auto want_boxes = LoadNpy(base + "_detector_bboxes.npy");
    const auto want_scores = LoadNpy(base + "_detector_scores.npy");
    const std::vector<Detections> got = detector->Detect(GoldenInput(base));
    ASSERT_EQ(got.size(), 1u);
    const int64_t n = want_scores.shape[0];
    ASSERT_EQ(got[0].boxes.size(0), n) << "frame " << frame;
    ASSERT_EQ(got[0].scores.size(0), n) << "frame " << frame;
    double box_err = 0, score_err = 0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < 4; ++k) {
        box_err = std::max(box_err, std::abs(got[0].boxes[i][k].item<double>() - want_boxes.data[i * 4 + k]));
      }
      score_err = std::max(score_err, std::abs(got[0].scores[i].item<double>() - want_scores.data[i]));
    }
    EXPECT_LE(box_err, 1e-3) << "frame " << frame << ", " << threads << " threads";
    EXPECT_LE(score_err, 1e-5) << "frame " << frame << ", " << threads << " threads";
    std::printf("frame %d, %d threads: %ld boxes, max box error %.3g px, max score error %.3g\n", frame, threads,
                static_cast<long>(n), box_err, score_err);
  }
}

TEST(FasterRcnn, GoldenDetectionsOneThread) { ExpectGoldenDetections(1); }

TEST(FasterRcnn, GoldenDetectionsTwoThreads) { ExpectGoldenDetections(2); }

// The vectorized fully connected layer against at::linear itself: the same bits, for shapes
// with and without partial tiles, at 1 and 2 threads.
TEST(FasterRcnn, SequentialLinearIsPyTorchBitForBit) {
  at::manual_seed(3);
  for (auto [m, k, n] : {std::array<int64_t, 3>{37, 301, 45}, {64, 12544, 64}, {5, 1024, 2}, {1, 7, 16}}) {
    const at::Tensor x = at::randn({m, k}), w = at::randn({n, k}) * 0.05, b = at::randn({n});
    for (int threads : {1, 2}) {
      at::set_num_threads(threads);
      const at::Tensor want = at::linear(x, w, b);
      const at::Tensor got = native::SequentialLinear(x, native::PackLinearWeight(w), b);
      EXPECT_TRUE(at::equal(got, want)) << m << "x" << k << " -> " << n << ", max diff "
                                        << (got - want).abs().max().item<double>();
    }
  }
}

// fasterrcnn_resnet50_fpn_v2 (no golden case): torchvision's own outputs for random weights,
// made by make_fixtures.py with 2 threads, every box torchvision keeps (up to 100), in order.
TEST(FasterRcnn, ResNet50FpnV2MatchesTorchvision) {
  PyRef root = LoadTorchFile(Fixture("frcnn_v2/model.pt"));
  const YAML::Node config = PyToYaml(*root->Get("config"));
  native::StateDict sd;
  for (const auto& [k, v] : root->Get("detector")->dict) sd[k->s] = v->tensor;
  auto detector = native::BuildNativeDetector(config, sd, "frcnn_v2/model.pt", "cpu");
  auto* frcnn = dynamic_cast<native::FasterRcnn*>(detector.get());
  ASSERT_NE(frcnn, nullptr);
  const auto input = LoadNpy(Fixture("frcnn_v2/input.npy"));
  const at::Tensor x = at::tensor(input.data, at::kDouble).to(at::kFloat).reshape(input.shape);
  const at::Tensor want_boxes = [&] {
    const auto a = LoadNpy(Fixture("frcnn_v2/boxes.npy"));
    return at::tensor(a.data, at::kDouble).reshape(a.shape);
  }();
  const auto want_scores = LoadNpy(Fixture("frcnn_v2/scores.npy"));
  at::set_num_threads(2);
  std::vector<at::Tensor> boxes, scores;
  frcnn->Forward(x, boxes, scores);
  ASSERT_EQ(boxes[0].size(0), want_boxes.size(0));
  const double box_err = (boxes[0].to(at::kDouble) - want_boxes).abs().max().item<double>();
  const double score_err =
      (scores[0].to(at::kDouble) - at::tensor(want_scores.data, at::kDouble)).abs().max().item<double>();
  EXPECT_LE(box_err, 1e-3);
  EXPECT_LE(score_err, 1e-5);
  std::printf("resnet50_fpn_v2: %ld boxes, max box error %.3g px, max score error %.3g\n",
              static_cast<long>(boxes[0].size(0)), box_err, score_err);
  // Two frames in one batch (PyTorch's kernels depend on the batch size: torchvision's own
  // batched result is the reference, per image).
  const auto pair = LoadNpy(Fixture("frcnn_v2/input_pair.npy"));
  frcnn->Forward(at::tensor(pair.data, at::kDouble).to(at::kFloat).reshape(pair.shape), boxes, scores);
  ASSERT_EQ(boxes.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto wb = LoadNpy(Fixture("frcnn_v2/pair" + std::to_string(i) + "_boxes.npy"));
    const auto ws = LoadNpy(Fixture("frcnn_v2/pair" + std::to_string(i) + "_scores.npy"));
    ASSERT_EQ(boxes[i].size(0), wb.shape[0]) << "image " << i;
    EXPECT_LE(
        (boxes[i].to(at::kDouble) - at::tensor(wb.data, at::kDouble).reshape(wb.shape)).abs().max().item<double>(),
        1e-3);
    EXPECT_LE((scores[i].to(at::kDouble) - at::tensor(ws.data, at::kDouble)).abs().max().item<double>(), 1e-5);
  }
  // DeepLabCut's view: the best max_detections, as x, y, w, h.
  const std::vector<Detections> got = detector->Detect(x);
  ASSERT_EQ(got[0].boxes.size(0), 2);
  EXPECT_NEAR(got[0].boxes[1][2].item<double>(), want_boxes[1][2].item<double>() - want_boxes[1][0].item<double>(),
              1e-3);
}

TEST(FasterRcnn, StrictLoading) {
  Export e = ReadExport(Fixture("dlc/td_frcnn_r50.pt"));
  native::StateDict missing = e.detector;
  missing.erase("model.roi_heads.box_head.fc6.weight");
  try {
    native::BuildNativeDetector(e.config, missing, "x.pt", "cpu");
    FAIL() << "missing tensor accepted";
  } catch (const Error& err) {
    EXPECT_NE(err.status().message().find("model.roi_heads.box_head.fc6.weight"), std::string::npos);
  }
  native::StateDict wrong = e.detector;
  wrong["model.rpn.head.cls_logits.weight"] = at::zeros({3, 256, 1, 1});
  EXPECT_THROW(native::BuildNativeDetector(e.config, wrong, "x.pt", "cpu"), Error);
  YAML::Node other = YAML::Clone(e.config);
  other["detector"]["model"]["variant"] = "fasterrcnn_resnet50_fpn";
  EXPECT_THROW(native::BuildNativeDetector(other, e.detector, "x.pt", "cpu"), Error);
}

}  // namespace
}  // namespace posebatch
