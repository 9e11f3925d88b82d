// Identity heads (multi-animal projects with identity: true): PredictIdentityScores and the
// identity assignment against DeepLabCut's own IdentityPredictor and bottom-up postprocessor
// on random cases (tests/data/identity_cases.yaml, made by
// tests/fixtures/make_identity_cases.py), the config's identity head, and the head itself.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "dlc_export.h"
#include "model/config_internal.h"
#include "model/native/native_network.h"
#include "posebatch/model.h"
#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "test_env.h"

namespace posebatch {
namespace {

at::Tensor Floats(const YAML::Node& values, std::vector<int64_t> shape) {
  std::vector<float> v;
  for (const auto& x : values) v.push_back(x.as<float>());
  return at::tensor(v, at::kFloat).reshape(shape);
}

// Same shape, NaN where DeepLabCut has NaN, every other value identical.
int64_t ExpectIdentical(const at::Tensor& got_in, const at::Tensor& want, const std::string& what) {
  EXPECT_EQ(got_in.sizes(), want.sizes()) << what;
  if (got_in.sizes() != want.sizes()) return 1;
  const at::Tensor got = got_in.contiguous();
  const float* g = got.data_ptr<float>();
  const float* w = want.data_ptr<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const bool same = std::isnan(w[i]) ? std::isnan(g[i]) : g[i] == w[i];
    if (!same && bad++ < 3) ADD_FAILURE() << what << " value " << i << ": " << g[i] << " vs " << w[i];
  }
  return bad;
}

TEST(IdentityPredictor, RandomCasesMatchDeepLabCut) {
  const YAML::Node root = YAML::LoadFile(std::string(POSEBATCH_TEST_DATA) + "/identity_cases.yaml");
  int cases = 0, reordered = 0;
  for (const YAML::Node& c : root["cases"]) {
    const int64_t I = c["individuals"].as<int64_t>(), A = c["animals"].as<int64_t>(), K = c["keypoints"].as<int64_t>();
    const int64_t n = std::min(A, I);
    IdentityHeadSpec spec;
    spec.num_individuals = static_cast<int>(I);
    spec.stride = c["stride"].as<double>();
    spec.apply_sigmoid = c["apply_sigmoid"].as<bool>();
    const std::string what = "case " + std::to_string(cases);
    const at::Tensor heatmap = Floats(c["heatmap"], {1, I, c["height"].as<int64_t>(), c["width"].as<int64_t>()});
    const at::Tensor poses = Floats(c["poses"], {1, A, K, 5});
    const at::Tensor scores = PredictIdentityScores(heatmap, poses, spec);
    ExpectIdentical(scores, Floats(c["identity_scores"], {1, A, K, I}), what + " identity scores");

    const at::Tensor order = AssignIdentityOrder(poses, scores);
    ASSERT_EQ(order.sizes(), (at::IntArrayRef{1, n})) << what;
    std::vector<int64_t> want_order;
    for (const auto& v : c["order"]) want_order.push_back(v.as<int64_t>());
    EXPECT_EQ(std::vector<int64_t>(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + n), want_order) << what;
    ExpectIdentical(ReorderAnimals(poses, order), Floats(c["final_poses"], {1, n, K, 5}), what + " poses");
    ExpectIdentical(ReorderAnimals(scores, order), Floats(c["final_identity_scores"], {1, n, K, I}),
                    what + " reordered identity scores");
    bool moved = false;
    for (int64_t i = 0; i < n; ++i) moved |= want_order[i] != i;
    reordered += moved;
    ++cases;
  }
  EXPECT_EQ(cases, 120);
  EXPECT_GT(reordered, 50);  // the cases must exercise the reordering
  std::printf("%d random cases (%d reordered): identical to DeepLabCut's\n", cases, reordered);
}

TEST(IdentityPredictor, BatchRowsAreIndependent) {
  IdentityHeadSpec spec;
  spec.stride = 4;
  at::manual_seed(3);
  const at::Tensor heatmap = at::randn({3, 3, 5, 6});
  at::Tensor poses = at::rand({3, 3, 4, 5}) * 24;
  const at::Tensor scores = PredictIdentityScores(heatmap, poses, spec);
  const at::Tensor order = AssignIdentityOrder(poses, scores);
  for (int64_t b = 0; b < 3; ++b) {
    const auto one = PredictIdentityScores(heatmap.narrow(0, b, 1), poses.narrow(0, b, 1), spec);
    EXPECT_TRUE(at::equal(one, scores.narrow(0, b, 1))) << b;
    EXPECT_TRUE(at::equal(AssignIdentityOrder(poses.narrow(0, b, 1), one), order.narrow(0, b, 1))) << b;
  }
}

TEST(IdentityPredictor, BadInputsAreErrors) {
  IdentityHeadSpec spec;
  EXPECT_THROW(PredictIdentityScores(at::zeros({1, 3, 4}), at::zeros({1, 3, 2, 5}), spec), Error);
  EXPECT_THROW(PredictIdentityScores(at::zeros({2, 3, 4, 4}), at::zeros({1, 3, 2, 5}), spec), Error);
  EXPECT_THROW(AssignIdentityOrder(at::zeros({1, 3, 2, 5}), at::zeros({1, 2, 2, 3})), Error);
  // NaN scores: scipy refuses the cost matrix, so does posebatch.
  at::Tensor poses = at::zeros({1, 2, 2, 5});
  poses[0][0][0][2] = NAN;
  EXPECT_THROW(AssignIdentityOrder(poses, at::ones({1, 2, 2, 2})), Error);
}

// ---- The config's identity head and the network's.

YAML::Node WithIdentity(const YAML::Node& config) {
  YAML::Node c = YAML::Clone(config);
  c["metadata"]["with_identity"] = true;
  YAML::Node head;
  head["type"] = "HeatmapHead";
  head["predictor"]["type"] = "IdentityPredictor";
  head["predictor"]["apply_sigmoid"] = true;
  head["heatmap_config"]["channels"].push_back(2304);
  head["heatmap_config"]["channels"].push_back(3);
  head["heatmap_config"]["kernel_size"].push_back(3);
  head["heatmap_config"]["strides"].push_back(2);
  c["model"]["heads"]["identity"] = head;
  return c;
}

TEST(IdentityHead, ConfigAndNetwork) {
  Export e = ReadExport(testing::Fixture("dlc/dlcrnet_ms5_multi.pt"));
  EXPECT_THROW(ParseModelConfigNode(
                   [&] {
                     YAML::Node c = YAML::Clone(e.config);
                     c["metadata"]["with_identity"] = true;  // but no identity head
                     return c;
                   }(),
                   "x.pt"),
               Error);
  const YAML::Node config = WithIdentity(e.config);
  const ModelSpec spec = ParseModelConfigNode(config, "x.pt");
  EXPECT_TRUE(spec.with_identity);
  EXPECT_EQ(spec.identity.num_individuals, 3);
  EXPECT_DOUBLE_EQ(spec.identity.stride, 8.0);  // output stride 16, one stride-2 deconvolution
  EXPECT_TRUE(spec.identity.apply_sigmoid);
  // The head is DeepLabCut's HeatmapHead: heads.identity.heatmap_head.deconv_layers.0.*.
  at::manual_seed(1);
  const at::Tensor weight = at::randn({2304, 3, 3, 3}) * 0.01, bias = at::randn({3});
  e.pose["heads.identity.heatmap_head.deconv_layers.0.weight"] = weight;
  e.pose["heads.identity.heatmap_head.deconv_layers.0.bias"] = bias;
  auto net = native::BuildNativeNetwork(config, std::move(e.pose), "x.pt", "cpu");
  c10::InferenceMode guard;
  HeadOutputs out = net->Forward(at::randn({1, 3, 128, 96}));
  const at::Tensor& maps = out["identity"]["heatmap"];
  EXPECT_EQ(maps.sizes(), (at::IntArrayRef{1, 3, 17, 13}));  // (8 x 6 features) * 2 + 1
  const at::Tensor poses =
      PredictPafPoses(out["bodypart"]["heatmap"], out["bodypart"]["locref"], out["bodypart"]["paf"], spec.paf);
  const at::Tensor scores = PredictIdentityScores(maps, poses, spec.identity);
  EXPECT_EQ(scores.sizes(), (at::IntArrayRef{1, 3, 4, 3}));
  EXPECT_EQ(AssignIdentityOrder(poses, scores).sizes(), (at::IntArrayRef{1, 3}));
}

}  // namespace
}  // namespace posebatch
