// Multi-animal bottom-up: DeepLabCut's PartAffinityFieldPredictor + Assembler on DeepLabCut's
// own outputs (synthetic head outputs that assemble 3 and 2 animals), the linear assignment
// solver it relies on, and the DLCRNetHead's raw outputs on the golden frames.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "dlc_export.h"
#include "io/torch_pickle.h"
#include "model/config_internal.h"
#include "model/native/native_network.h"
#include "npy.h"
#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "predict/assembler.h"
#include "predict/linear_assignment.h"
#include "predict/paf_internal.h"
#include "preprocess/normalize.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;
using testing::Golden;
using testing::LoadNpy;
using testing::NpyTensor;

const char* kCase = "r50_paf_multi";

ModelSpec GoldenSpec() { return LoadModelConfig(Golden(std::string(kCase) + "/config.yaml")); }

// Poses (A, K, 5) against DeepLabCut's: same -1 rows, NaN where DeepLabCut has NaN, positions
// within 1e-3 px, scores and affinities within 1e-5, ids exact. Returns the largest position
// and score errors.
std::pair<double, double> ExpectSamePoses(const at::Tensor& got_in, const testing::NpyArray& want,
                                          const std::string& what) {
  const at::Tensor got = got_in.contiguous();
  EXPECT_EQ(std::vector<int64_t>(got.sizes().begin(), got.sizes().end()), want.shape) << what;
  if (got.numel() != want.size()) return {INFINITY, INFINITY};
  const float* g = got.data_ptr<float>();
  double pos_err = 0, score_err = 0;
  for (int64_t i = 0; i < want.size(); ++i) {
    const int column = static_cast<int>(i % 5);
    const double w = want.data[i], v = g[i];
    if (std::isnan(w) || std::isnan(v)) {
      EXPECT_TRUE(std::isnan(w) && std::isnan(v)) << what << " value " << i << ": " << v << " vs " << w;
      continue;
    }
    const double err = std::abs(v - w);
    if (column < 2) {
      pos_err = std::max(pos_err, err);
      EXPECT_LE(err, 1e-3) << what << " value " << i;
    } else if (column == 3) {
      EXPECT_EQ(v, w) << what << " id " << i;
    } else {
      score_err = std::max(score_err, err);
      EXPECT_LE(err, 1e-5) << what << " value " << i;
    }
  }
  return {pos_err, score_err};
}

// ---- CPython set order (DeepLabCut's assembler iterates a set of ints to seed its queue).

TEST(PythonSetOrder, MatchesCPython) {
  std::ifstream in(Fixture("paf/pyset_orders.txt"));
  ASSERT_TRUE(in) << "missing fixture paf/pyset_orders.txt";
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    const auto semi = line.find(';');
    ASSERT_NE(semi, std::string::npos);
    auto parse = [](const std::string& text) {
      std::vector<int64_t> v;
      std::istringstream s(text);
      for (int64_t x; s >> x;) v.push_back(x);
      return v;
    };
    EXPECT_EQ(PythonSetIterationOrder(parse(line.substr(0, semi))), parse(line.substr(semi + 1))) << line;
    ++cases;
  }
  EXPECT_GE(cases, 100);
}

// ---- Linear assignment.

double BruteForceBest(const std::vector<double>& c, int64_t rows, int64_t cols, bool maximize) {
  // Enumerate injections of the smaller side into the larger one.
  const bool tall = rows > cols;
  const int64_t small = tall ? cols : rows, large = tall ? rows : cols;
  std::vector<int64_t> perm(large);
  std::iota(perm.begin(), perm.end(), 0);
  double best = maximize ? -INFINITY : INFINITY;
  do {
    double total = 0;
    for (int64_t i = 0; i < small; ++i) total += tall ? c[perm[i] * cols + i] : c[i * cols + perm[i]];
    best = maximize ? std::max(best, total) : std::min(best, total);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(LinearAssignment, OptimalOnRandomRectangularMatrices) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> size(1, 6), coarse(0, 4);
  std::uniform_real_distribution<double> fine(-1, 1);
  for (int trial = 0; trial < 600; ++trial) {
    const int64_t rows = size(rng), cols = size(rng);
    std::vector<double> c(rows * cols);
    // Coarse values make many ties (as affinities rounded to 3 decimals do).
    for (auto& v : c) v = trial % 2 ? coarse(rng) * 0.25 : fine(rng);
    for (bool maximize : {false, true}) {
      const auto pairs = SolveLinearAssignment(c, rows, cols, maximize);
      ASSERT_EQ(static_cast<int64_t>(pairs.size()), std::min(rows, cols));
      std::vector<bool> row_used(rows), col_used(cols);
      double total = 0;
      for (size_t i = 0; i < pairs.size(); ++i) {
        const auto [r, col] = pairs[i];
        ASSERT_TRUE(r >= 0 && r < rows && col >= 0 && col < cols);
        EXPECT_FALSE(row_used[r] || col_used[col]);
        row_used[r] = col_used[col] = true;
        if (i > 0) {
          EXPECT_LT(pairs[i - 1].first, r) << "rows must come sorted";
        }
        total += c[r * cols + col];
      }
      EXPECT_NEAR(total, BruteForceBest(c, rows, cols, maximize), 1e-12) << rows << "x" << cols;
    }
  }
}

TEST(LinearAssignment, TiesResolveAsScipy) {
  // scipy: a constant matrix gives the identity (its scipy#11602 rule), also transposed.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 3}, {2, 4}, {4, 2}}) {
    const auto pairs = SolveLinearAssignment(std::vector<double>(rows * cols, 0.5), rows, cols, true);
    for (size_t i = 0; i < pairs.size(); ++i) {
      EXPECT_EQ(pairs[i], (std::pair<int64_t, int64_t>(i, i))) << rows << "x" << cols;
    }
  }
  // Among equal columns the free one scanned last (the lowest index) wins: row 0 of a
  // 2 x 3 matrix with two equal best columns takes column 0, row 1 then column 1.
  const auto pairs = SolveLinearAssignment({1, 1, 0, 1, 1, 0}, 2, 3, true);
  EXPECT_EQ(pairs, (std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 1}}));
}

TEST(LinearAssignment, RejectsWhatScipyRejects) {
  EXPECT_TRUE(SolveLinearAssignment({}, 0, 3, true).empty());
  EXPECT_THROW((SolveLinearAssignment({1, NAN}, 1, 2, false)), Error);
  EXPECT_THROW((SolveLinearAssignment({1, INFINITY}, 1, 2, true)), Error);          // +inf maximized
  EXPECT_THROW((SolveLinearAssignment({INFINITY, INFINITY}, 1, 2, false)), Error);  // infeasible
  const auto pairs = SolveLinearAssignment({INFINITY, 2}, 1, 2, false);             // inf entries avoided
  EXPECT_EQ(pairs, (std::vector<std::pair<int64_t, int64_t>>{{0, 1}}));
}

// ---- The assembler alone on DeepLabCut's own results for random inputs
// (tests/data/paf_assembler_cases.yaml, made by tests/fixtures/make_assembler_cases.py with
// DeepLabCut's Assembler): reversed graph edges, all-zero bodyparts, fusion of partial
// assemblies, pose suppression, min_n_links, many ties in sorts and queues.

TEST(Assembler, RandomCasesMatchDeepLabCut) {
  const YAML::Node root = YAML::LoadFile(std::string(POSEBATCH_TEST_DATA) + "/paf_assembler_cases.yaml");
  int cases = 0, animals = 0;
  for (const YAML::Node& c : root["cases"]) {
    AssemblerParams p;
    p.num_bodyparts = c["num_bodyparts"].as<int>();
    p.max_individuals = c["max_individuals"].as<int>();
    for (const auto& e : c["graph"]) p.graph.push_back({e[0].as<int>(), e[1].as<int>()});
    for (const auto& i : c["paf_inds"]) p.paf_inds.push_back(i.as<int>());
    ImageDetections det;
    for (const auto& part : c["candidates"]) {
      det.candidates.emplace_back();
      for (const auto& v : part) {
        det.candidates.back().push_back(Candidate{v[0].as<float>(), v[1].as<float>(), v[2].as<float>()});
      }
    }
    for (const auto& a : c["affinities"]) {
      AffinityMatrix m;
      m.rows = a["rows"].as<int64_t>();
      m.cols = a["cols"].as<int64_t>();
      for (const auto& v : a["values"]) m.values.push_back(v.as<float>());
      det.affinities[a["edge"].as<int>()] = m;
    }
    const auto got = AssembleAnimals(det, p);
    const YAML::Node want = c["assemblies"];
    ASSERT_EQ(got.size(), want.size()) << "case " << cases;
    for (size_t j = 0; j < got.size(); ++j) {
      EXPECT_NEAR(got[j].affinity, want[j]["affinity"].as<double>(), 1e-12) << "case " << cases << " animal " << j;
      for (int k = 0; k < p.num_bodyparts; ++k) {
        for (int col = 0; col < 4; ++col) {
          const double w = want[j]["data"][k][col].as<double>(), v = got[j].keypoints[k][col];
          if (std::isnan(w)) {
            EXPECT_TRUE(std::isnan(v)) << "case " << cases << " animal " << j << " bodypart " << k;
          } else {
            EXPECT_EQ(v, w) << "case " << cases << " animal " << j << " bodypart " << k << " column " << col;
          }
        }
      }
    }
    ++cases;
    animals += static_cast<int>(got.size());
  }
  EXPECT_EQ(cases, 300);
  std::printf("%d random cases, %d animals: identical to DeepLabCut's\n", cases, animals);
}

// ---- The predictor and assembler on DeepLabCut's synthetic cases.

TEST(PafPredictor, ConfigIsParsed) {
  const ModelSpec spec = GoldenSpec();
  EXPECT_EQ(spec.predictor, PredictorType::kPartAffinityField);
  const PafPredictorSpec& p = spec.paf;
  EXPECT_EQ(p.num_keypoints, 4);
  EXPECT_EQ(p.num_animals, 3);
  EXPECT_EQ(p.nms_radius, 5);
  EXPECT_DOUBLE_EQ(p.sigma, 1.0);
  EXPECT_DOUBLE_EQ(p.locref_std, 7.2801);
  EXPECT_DOUBLE_EQ(p.min_affinity, 0.05);
  EXPECT_EQ(p.graph.size(), 6u);
  EXPECT_EQ(p.graph[4], (std::array<int, 2>{1, 3}));
  EXPECT_EQ(p.edges_to_keep, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(p.apply_sigmoid);
  EXPECT_FALSE(p.clip_scores);
  // ResNet-50 at output stride 16, DLCRNetHead's first stage (x2) and deconvolution (x2).
  EXPECT_DOUBLE_EQ(p.stride, 4.0);
  EXPECT_DOUBLE_EQ(spec.pose_head.stride, 4.0);
}

PafPredictorSpec SynthSpec() {
  PafPredictorSpec spec = GoldenSpec().paf;
  spec.stride = 8;  // DeepLabCut ran its predictor with stride 8 on the synthetic outputs
  return spec;
}

void ExpectSynthCase(const std::string& name) {
  const std::string base = Golden(std::string(kCase) + "/" + name + "_");
  const at::Tensor poses = PredictPafPoses(NpyTensor(base + "heatmap.npy"), NpyTensor(base + "locref.npy"),
                                           NpyTensor(base + "paf.npy"), SynthSpec());
  const auto want = LoadNpy(base + "pred_poses.npy");
  const auto [pos, score] = ExpectSamePoses(poses.select(0, 0), want, name);
  int animals = 0;
  for (int64_t a = 0; a < want.shape[0]; ++a) animals += want.data[a * want.shape[1] * 5] != -1;
  std::printf("%s: %d animals, max |ours - theirs| = %.3g px, %.3g in score/affinity\n", name.c_str(), animals, pos,
              score);
}

TEST(PafPredictor, Synth0ThreeAnimalsMatchDeepLabCut) { ExpectSynthCase("synth0"); }
TEST(PafPredictor, Synth1TwoAnimalsMatchDeepLabCut) { ExpectSynthCase("synth1"); }

TEST(PafPredictor, BatchGivesEachImageItsOwnAnimals) {
  std::vector<at::Tensor> hm, lr, paf;
  for (const char* name : {"synth1", "synth0", "synth1"}) {
    const std::string base = Golden(std::string(kCase) + "/" + name + "_");
    hm.push_back(NpyTensor(base + "heatmap.npy"));
    lr.push_back(NpyTensor(base + "locref.npy"));
    paf.push_back(NpyTensor(base + "paf.npy"));
  }
  const at::Tensor poses = PredictPafPoses(at::cat(hm), at::cat(lr), at::cat(paf), SynthSpec());
  ASSERT_EQ(poses.sizes(), (at::IntArrayRef{3, 3, 4, 5}));
  int i = 0;
  for (const char* name : {"synth1", "synth0", "synth1"}) {
    ExpectSamePoses(poses.select(0, i++), LoadNpy(Golden(std::string(kCase) + "/" + name + "_pred_poses.npy")), name);
  }
}

// Dense maps (dozens to hundreds of peaks per bodypart, 0-4 true animals among them) through
// DeepLabCut's own PartAffinityFieldPredictor (tests/data/paf_predictor_*, made by
// tests/fixtures/make_paf_cases.py): posebatch computes only the affinities its assembler
// reads; the animals must still be DeepLabCut's, in its order.
TEST(PafPredictor, DenseCasesMatchDeepLabCut) {
  const std::string data = std::string(POSEBATCH_TEST_DATA) + "/paf_predictor_";
  const YAML::Node root = YAML::LoadFile(data + "cases.yaml");
  const at::Tensor heatmaps = NpyTensor(data + "heatmap.npy"), locrefs = NpyTensor(data + "locref.npy"),
                   pafs = NpyTensor(data + "paf.npy");
  const auto poses_all = LoadNpy(data + "poses.npy");
  int cases = 0, animals = 0;
  for (const YAML::Node& c : root["cases"]) {
    PafPredictorSpec spec;
    const int64_t B = c["batch"].as<int64_t>(), K = c["keypoints"].as<int64_t>(), H = c["height"].as<int64_t>(),
                  W = c["width"].as<int64_t>();
    spec.num_keypoints = static_cast<int>(K);
    spec.num_animals = c["num_animals"].as<int>();
    spec.nms_radius = c["nms_radius"].as<int>();
    spec.clip_scores = c["clip_scores"].as<bool>();
    spec.stride = c["stride"].as<double>();
    for (const auto& e : c["graph"]) spec.graph.push_back({e[0].as<int>(), e[1].as<int>()});
    for (const auto& e : c["edges_to_keep"]) spec.edges_to_keep.push_back(e.as<int>());
    const int64_t E = static_cast<int64_t>(spec.graph.size());
    auto slice = [&](const at::Tensor& all, const char* key, int64_t channels) {
      return all.narrow(0, c[std::string(key) + "_start"].as<int64_t>(), B * channels * H * W)
          .view({B, channels, H, W});
    };
    const at::Tensor poses = PredictPafPoses(slice(heatmaps, "heatmap", K), slice(locrefs, "locref", 2 * K),
                                             slice(pafs, "paf", 2 * E), spec);
    ASSERT_EQ(poses.sizes(), (at::IntArrayRef{B, spec.num_animals, K, 5}));
    testing::NpyArray want;
    const int64_t per_image = spec.num_animals * K * 5;
    want.shape = {spec.num_animals, K, 5};
    for (int64_t b = 0; b < B; ++b) {
      const auto first = poses_all.data.begin() + c["poses_start"].as<int64_t>() + b * per_image;
      want.data.assign(first, first + per_image);
      ExpectSamePoses(poses.select(0, b), want, "case " + std::to_string(cases) + " image " + std::to_string(b));
      for (int64_t a = 0; a < spec.num_animals; ++a) animals += want.data[a * K * 5] != -1;
    }
    ++cases;
  }
  EXPECT_EQ(cases, 10);
  EXPECT_GE(animals, 20) << "the cases should assemble animals";
  std::printf("%d dense cases, %d animals: DeepLabCut's\n", cases, animals);
}

TEST(PafPredictor, NoPeaksGiveMinusOnes) {
  PafPredictorSpec spec = SynthSpec();
  const at::Tensor poses =
      PredictPafPoses(at::full({2, 4, 9, 11}, -20.0), at::zeros({2, 8, 9, 11}), at::zeros({2, 12, 9, 11}), spec);
  EXPECT_TRUE(poses.eq(-1).all().item<bool>());
  spec.clip_scores = true;  // DeepLabCut clips the -1 scores to 0 too
  const at::Tensor clipped =
      PredictPafPoses(at::full({1, 4, 9, 11}, -20.0), at::zeros({1, 8, 9, 11}), at::zeros({1, 12, 9, 11}), spec);
  EXPECT_TRUE(clipped.select(3, 2).eq(0).all().item<bool>());
}

TEST(PafPredictor, WrongShapesAreModelErrors) {
  const PafPredictorSpec spec = SynthSpec();
  try {
    PredictPafPoses(at::zeros({1, 4, 9, 11}), at::zeros({1, 8, 9, 11}), at::zeros({1, 10, 9, 11}), spec);
    ADD_FAILURE() << "a 10-channel PAF was accepted for 6 edges";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kModelError);
    EXPECT_NE(e.status().message().find("paf"), std::string::npos) << e.status().message();
  }
}

// ---- The PAF line integral against the tensor operations DeepLabCut performs.

// DeepLabCut's compute_edge_costs, its tensor operations in its order, for the pairs given:
// pairs (n, 5) int64 = image, edge, source peak, target peak (indices into rc); rc (peaks, 2)
// int64 = row, col. Returns the affinities before rounding (n,) float32.
at::Tensor TensorOpsAffinities(const at::Tensor& paf, const at::Tensor& rc, const at::Tensor& pairs) {
  const int64_t B = paf.size(0), H = paf.size(2), W = paf.size(3), n = pairs.size(0);
  constexpr int kSamples = 10;
  const at::Tensor from = rc.index_select(0, pairs.select(1, 2)).to(at::kFloat);
  const at::Tensor to = rc.index_select(0, pairs.select(1, 3)).to(at::kFloat);
  const at::Tensor delta = to - from;
  const at::Tensor lengths = at::frobenius_norm(delta, {1}, false) + 1.1920928955078125e-07;
  const at::Tensor t = at::linspace(0, 1, kSamples, at::kFloat).view({1, kSamples, 1});
  at::Tensor xy = (from.unsqueeze(1) + t * delta.unsqueeze(1)).to(at::kInt);
  xy = at::stack({xy.select(2, 0).clamp(0, H - 1), xy.select(2, 1).clamp(0, W - 1)}, 2);
  const at::Tensor rows = xy.select(2, 0).to(at::kLong), cols = xy.select(2, 1).to(at::kLong);
  const at::Tensor image = pairs.select(1, 0).view({n, 1}).expand({n, kSamples});
  const at::Tensor edge = pairs.select(1, 1).view({n, 1}).expand({n, kSamples});
  const at::Tensor fields = paf.reshape({B, -1, 2, H, W});
  const at::Tensor vectors = at::stack({fields.index({image, edge, at::zeros_like(image), rows, cols}),
                                        fields.index({image, edge, at::ones_like(image), rows, cols})},
                                       2);
  const at::Tensor integral = at::trapz(vectors, xy.to(at::kFloat).flip({-1}), 1);
  return (at::frobenius_norm(integral, {1}, false) / lengths).contiguous();
}

TEST(PafAffinity, SameBitsAsDeepLabCutsTensorOps) {
  at::manual_seed(11);
  std::mt19937 rng(11);
  const int64_t B = 2, E = 3, H = 61, W = 83, peaks = 400, n = 60000;
  // Fields of several magnitudes, as trained and random heads give.
  at::Tensor paf = at::randn({B, 2 * E, H, W});
  paf.narrow(1, 0, 2).mul_(1e-3);
  paf.narrow(1, 4, 2).mul_(37.5);
  paf = paf.contiguous();
  // Peaks anywhere, some on the border; pairs of any length, zero included.
  std::uniform_int_distribution<int64_t> row(0, H - 1), col(0, W - 1), peak(0, peaks - 1), img(0, B - 1),
      edge(0, E - 1);
  at::Tensor rc = at::empty({peaks, 2}, at::kLong);
  for (int64_t i = 0; i < peaks; ++i) {
    rc[i][0] = i % 7 == 0 ? (i % 2 ? 0 : H - 1) : row(rng);
    rc[i][1] = col(rng);
  }
  at::Tensor pairs = at::empty({n, 4}, at::kLong);
  auto* pp = pairs.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    pp[i * 4] = img(rng);
    pp[i * 4 + 1] = edge(rng);
    pp[i * 4 + 2] = peak(rng);
    pp[i * 4 + 3] = i % 50 == 0 ? pp[i * 4 + 2] : peak(rng);
  }
  const at::Tensor want = TensorOpsAffinities(paf, rc, pairs);
  const at::Tensor want_rounded = (at::round(want * 1000) / 1000).contiguous();
  const float* w = want.data_ptr<float>();
  const float* wr = want_rounded.data_ptr<float>();
  const float* f = paf.data_ptr<float>();
  const int64_t* prc = rc.data_ptr<int64_t>();
  int64_t differ = 0, differ_rounded = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* fx = f + (pp[i * 4] * E + pp[i * 4 + 1]) * 2 * H * W;
    const int64_t s = pp[i * 4 + 2], d = pp[i * 4 + 3];
    const float got =
        PafLineAffinityUnrounded(fx, fx + H * W, H, W, prc[s * 2], prc[s * 2 + 1], prc[d * 2], prc[d * 2 + 1]);
    differ += std::memcmp(&got, &w[i], sizeof(float)) != 0;
    const float rounded = RoundAffinity(got);
    differ_rounded += std::memcmp(&rounded, &wr[i], sizeof(float)) != 0;
  }
  EXPECT_EQ(differ, 0) << "of " << n << " affinities differ from the tensor ops' in some bit";
  EXPECT_EQ(differ_rounded, 0) << "of " << n << " rounded affinities differ";
}

// ---- DLCRNetHead on the golden frames.

double MaxAbs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// Raw head outputs of a golden case's network on its two frames within 1e-4 x max |theirs|,
// and PredictPafPoses on our outputs against DeepLabCut's poses.
void ExpectGoldenCaseMatches(const std::string& name) {
  Export e = ReadExport(Fixture("dlc/" + name + ".pt"));
  const ModelSpec spec = ParseModelConfigNode(e.config, name + ".pt");
  auto net = native::BuildNativeNetwork(e.config, std::move(e.pose), name + ".pt", "cpu");
  at::set_num_threads(2);
  for (int frame : {0, 1}) {
    const std::string base = Golden(name + "/frame" + std::to_string(frame));
    auto src = OpenImages({base + ".png"});
    Frame f;
    ASSERT_TRUE(src->Next(&f));
    InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, spec.input, "frame");
    at::Tensor input = at::empty({1, 3, g.height, g.width});
    Normalizer(spec.input).Write(f, g, input.data_ptr<float>());
    c10::InferenceMode guard;
    HeadOutputs out = net->Forward(input);
    for (const char* output : {"heatmap", "locref", "paf"}) {
      const at::Tensor want = NpyTensor(base + "_out_bodypart_" + output + ".npy");
      const at::Tensor& got = out["bodypart"][output];
      ASSERT_EQ(got.sizes(), want.sizes()) << output;
      const double rel = MaxAbs(got - want) / MaxAbs(want);
      EXPECT_LE(rel, 1e-4) << output << " frame " << frame;
      std::printf("%s frame %d %s: max |ours - theirs| = %.3g = %.3g x max |theirs|\n", name.c_str(), frame, output,
                  MaxAbs(got - want), rel);
    }
    // Random weights assemble nobody: DeepLabCut's poses are all -1; ours must be too.
    const auto start = std::chrono::steady_clock::now();
    const at::Tensor poses =
        PredictPafPoses(out["bodypart"]["heatmap"], out["bodypart"]["locref"], out["bodypart"]["paf"], spec.paf);
    std::printf("frame %d: PredictPafPoses took %.1f ms\n", frame,
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    ExpectSamePoses(poses.select(0, 0), LoadNpy(base + "_pred_bodypart_poses.npy"), "frame poses");
    ExpectSamePoses(poses.select(0, 0), LoadNpy(base + "_final_bodyparts.npy"), "frame final");
  }
}

TEST(DLCRNetHead, GoldenRawOutputsMatchDeepLabCut) { ExpectGoldenCaseMatches(kCase); }

// ---- DLCRNet's multi-scale backbone (dlcrnet_stride16_ms5) with its PAF head.

TEST(DLCRNet, GoldenStride16RawOutputsMatchDeepLabCut) { ExpectGoldenCaseMatches("dlcrnet_ms5_multi"); }

// dlcrnet_stride32_ms5 has no golden case: the stride-16 weights with output stride 32 (its
// branches are then shrunk, not enlarged, by the antialiased resize) and the template's
// two-layer deconvolution modules must load strictly and give outputs of the right size.
TEST(DLCRNet, Stride32BuildsAndRuns) {
  Export e = ReadExport(Fixture("dlc/dlcrnet_ms5_multi.pt"));
  YAML::Node config = YAML::Clone(e.config);
  config["model"]["backbone"]["output_stride"] = 32;
  config["net_type"] = "dlcrnet_stride32_ms5";
  at::manual_seed(2);
  const std::string h = "heads.bodypart.";
  for (const char* module : {"heatmap", "locref", "paf"}) {
    YAML::Node c = config["model"]["heads"]["bodypart"][std::string(module) + "_config"];
    const int64_t out = c["channels"][1].as<int64_t>();
    c["channels"] = std::vector<int64_t>{2304, 1152, out};
    c["kernel_size"] = std::vector<int64_t>{3, 3};
    c["strides"] = std::vector<int64_t>{2, 2};
    const std::string layers = h + module + "_head.deconv_layers.";
    const int64_t in = e.pose[layers + "0.weight"].size(0);
    e.pose[layers + "0.weight"] = at::randn({in, 1152, 3, 3}) * 0.01;
    e.pose[layers + "0.bias"] = at::zeros({1152});
    e.pose[layers + "2.weight"] = at::randn({1152, out, 3, 3}) * 0.01;  // index 1 is the ReLU
    e.pose[layers + "2.bias"] = at::zeros({out});
  }
  const ModelSpec spec = ParseModelConfigNode(config, "stride32.pt");
  EXPECT_DOUBLE_EQ(spec.paf.stride, 4.0);  // 32 / (2 x 2 x 2)
  auto net = native::BuildNativeNetwork(config, std::move(e.pose), "stride32.pt", "cpu");
  c10::InferenceMode guard;
  HeadOutputs out = net->Forward(at::randn({1, 3, 256, 256}));
  EXPECT_EQ(out["bodypart"]["heatmap"].sizes(), (at::IntArrayRef{1, 4, 67, 67}));  // 8 -> 16 -> 33 -> 67
  EXPECT_EQ(out["bodypart"]["locref"].sizes(), (at::IntArrayRef{1, 8, 67, 67}));
  EXPECT_EQ(out["bodypart"]["paf"].sizes(), (at::IntArrayRef{1, 12, 67, 67}));
  EXPECT_TRUE(out["bodypart"]["paf"].isfinite().all().item<bool>());
}

// Not a check: the figure for the README (dlcrnet_stride16_ms5, 256 x 256, batch 1, 2 threads).
TEST(DLCRNet, ForwardTimeAt256) {
  Export e = ReadExport(Fixture("dlc/dlcrnet_ms5_multi.pt"));
  auto net = native::BuildNativeNetwork(e.config, std::move(e.pose), "dlcrnet_ms5_multi.pt", "cpu");
  at::set_num_threads(2);
  c10::InferenceMode guard;
  const at::Tensor input = at::randn({1, 3, 256, 256});
  net->Forward(input);  // warm-up: oneDNN primitives, allocator
  std::vector<double> ms;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    HeadOutputs out = net->Forward(input);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    EXPECT_EQ(out["bodypart"]["paf"].sizes(), (at::IntArrayRef{1, 12, 65, 65}));
  }
  std::sort(ms.begin(), ms.end());
  std::printf("dlcrnet_stride16_ms5 forward, 256x256, batch 1, 2 threads: median %.1f ms (min %.1f)\n", ms[1], ms[0]);
}

TEST(DLCRNetHead, LoadModelReadsThePafExport) {
  Model model = LoadModel(Fixture(std::string("dlc/") + kCase + ".pt"), ModelLoadOptions{});
  EXPECT_EQ(model.spec.predictor, PredictorType::kPartAffinityField);
  EXPECT_TRUE(IsMultiAnimal(model.spec));
  EXPECT_EQ(model.spec.paf.graph.size(), 6u);
  EXPECT_EQ(model.spec.paf.num_animals, 3);
}

}  // namespace
}  // namespace posebatch
