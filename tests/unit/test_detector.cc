// Native detectors (top-down first stage): the MobileNetV3-Large backbone they share, and
// DeepLabCut's own detector outputs on the golden frames.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "dlc_export.h"
#include "model/native/layers.h"
#include "model/native/mobilenet_v3.h"
#include "posebatch/status.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;

// The tensors of `sd` whose names start with `prefix`.
native::StateDict WithPrefix(const native::StateDict& sd, const std::string& prefix) {
  native::StateDict out;
  for (const auto& [k, v] : sd)
    if (k.rfind(prefix, 0) == 0) out[k] = v;
  return out;
}

// SSDLite's regrouping of torchvision's features: features.0 = layers 0..12 plus layer 13's
// expansion, features.1 = the rest of layer 13 (a slice of its block, which keeps the module
// indices 1..3), then layers 14..16.
native::MobileNetV3Namer SsdliteNames() {
  const std::string p = "model.backbone.features.";
  return [p](int layer, int sub) -> std::string {
    if (layer == 0) return p + "0.0.";
    if (layer < 13) return p + "0." + std::to_string(layer) + ".block." + std::to_string(sub) + ".";
    if (layer == 13) return sub == 0 ? p + "0.13." : p + "1.0." + std::to_string(sub) + ".";
    if (layer < 16)
      return p + "1." + std::to_string(layer - 13) + ".block." + std::to_string(sub) + ".";
    return p + "1.3.";
  };
}

TEST(MobileNetV3, SsdliteBackboneLoadsDeepLabCutWeightsStrictly) {
  // DeepLabCut builds SSDLite without ImageNet weights: torchvision then halves the tail.
  Export e = ReadExport(Fixture("dlc/td_ssdlite_r50.pt"));
  native::StateDict sd = WithPrefix(e.detector, "model.backbone.features.");
  ASSERT_GT(sd.size(), 200u);
  native::ParamSet params;
  native::MobileNetV3Options opt;
  opt.reduced_tail = true;
  native::MobileNetV3Large net(params, SsdliteNames(), opt);
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
    sd[name] =
        name.find("running_var") != std::string::npos ? at::rand(shape) + 0.5 : at::randn(shape);
  }
  ASSERT_GT(sd.size(), 200u);
  native::ParamSet params;
  native::MobileNetV3Options opt;
  opt.norm = native::Norm2d::Kind::kFrozenBatch;
  opt.eps = 1e-5;
  native::MobileNetV3Large net(params, native::TorchvisionMobileNetV3Namer("model.backbone.body."),
                               opt);
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

}  // namespace
}  // namespace posebatch
