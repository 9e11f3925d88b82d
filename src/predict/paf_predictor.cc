// DeepLabCut's PartAffinityFieldPredictor: candidate keypoints with the same tensor
// operations as DeepLabCut (so that the same LibTorch rounds the same way: peaks are compared
// for equality), PAF affinities for the pairs the assembler reads in plain float32 code that
// reproduces those tensor operations bit for bit (affinities are rounded to 3 decimals, so
// one ulp can flip a tie), then the Assembler per image.
#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <vector>

#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "predict/assembler.h"
#include "predict/paf_internal.h"

namespace posebatch {
namespace {

constexpr int kLineSamples = 10;                            // points along each limb for the PAF line integral
constexpr double kFloat32Epsilon = 1.1920928955078125e-07;  // np.spacing(np.float32(1)): no 0/0

[[noreturn]] void BadOutput(const std::string& what) { throw Error(Status::ModelError(what)); }

std::string ShapeText(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

void CheckShape(const at::Tensor& t, const char* name, const PafPredictorSpec& spec, int64_t batch, int64_t channels,
                int64_t h, int64_t w) {
  if (!t.defined() || t.dim() != 4 || t.size(0) != batch || t.size(1) != channels || t.size(2) != h || t.size(3) != w) {
    BadOutput("model output '" + spec.name + "/" + name + "' has shape " + (t.defined() ? ShapeText(t) : "none") +
              ", expected [" + std::to_string(batch) + ", " + std::to_string(channels) + ", " + std::to_string(h) +
              ", " + std::to_string(w) + "]");
  }
}

// make_2d_gaussian_kernel: softmax of -k^2 / (2 sigma^2) over k = -r..r, outer product.
at::Tensor GaussianKernel(double sigma, int64_t size) {
  // Python's -size // 2 + 1 (floor division).
  const int64_t first = static_cast<int64_t>(std::floor(-static_cast<double>(size) / 2)) + 1;
  at::Tensor k = at::arange(first, size / 2 + 1, at::kFloat).pow(2);
  k = at::softmax(k.neg().div(2 * sigma * sigma), 0);
  return at::outer(k, k);
}

struct Peaks {
  at::Tensor index;  // (n, 4) int64: batch, bodypart, row, col in row-major order
  at::Tensor xy;     // (n, 2) float32 refined positions in input pixels
  at::Tensor score;  // (n,) float32 smoothed heatmap value
};

Peaks FindPeaks(const at::Tensor& heatmap, const at::Tensor& locref, const PafPredictorSpec& spec,
                bool positions = true) {
  const int64_t B = heatmap.size(0), K = heatmap.size(1), H = heatmap.size(2), W = heatmap.size(3);
  at::Tensor hm = spec.apply_sigmoid ? at::sigmoid(heatmap) : heatmap;
  const int64_t r = spec.nms_radius;
  const int64_t size = 2 * r + 1;
  const at::Tensor kernel = GaussianKernel(spec.sigma, size).view({1, 1, size, size}).repeat({K, 1, 1, 1});
  // padding="same" with an odd kernel: r zeros on every side.
  hm = at::conv2d(hm, kernel, {}, {1, 1}, {r, r}, {1, 1}, K);
  const at::Tensor pooled = at::max_pool2d(hm, {r, r}, {1, 1}, {r / 2, r / 2});
  const at::Tensor maxima = hm * at::eq(hm, pooled).to(at::kFloat);
  Peaks p;
  p.index = at::nonzero(maxima >= spec.peak_threshold);
  if (p.index.size(0) == 0 || !positions) return p;
  const at::Tensor b = p.index.select(1, 0), k = p.index.select(1, 1), row = p.index.select(1, 2),
                   col = p.index.select(1, 3);
  p.score = hm.index({b, k, row, col});
  // calc_peak_locations: stride * (col, row) + stride // 2 + locref * locref_std (float32).
  const at::Tensor offsets = locref.reshape({B, K, 2, H, W}).mul(spec.locref_std);
  const at::Tensor off = at::stack(
      {offsets.index({b, k, at::zeros_like(b), row, col}), offsets.index({b, k, at::ones_like(b), row, col})}, 1);
  const float stride = static_cast<float>(spec.stride);
  const at::Tensor strides = at::full({2}, stride, at::kFloat);
  const at::Tensor cells = at::stack({col, row}, 1).to(at::kInt);
  p.xy = strides.mul(cells).add(at::floor_divide(strides, 2)).add(off);
  return p;
}

// torch.linspace(0, 1, 10) in float32, as ATen computes it: the fractions along a limb.
const std::array<float, kLineSamples>& SampleFractions() {
  static const std::array<float, kLineSamples> fractions = [] {
    std::array<float, kLineSamples> f{};
    const at::Tensor t = at::linspace(0, 1, kLineSamples, at::kFloat).contiguous();
    std::copy_n(t.data_ptr<float>(), kLineSamples, f.begin());
    return f;
  }();
  return fractions;
}

// The (row, col) heatmap cell of each candidate peak, by image and bodypart, in peak order.
using PeakCells = std::vector<std::vector<std::vector<std::array<int64_t, 2>>>>;

// compute_edge_costs for the kept edges, restricted to what the assembler reads: for each
// image and kept edge, the affinities between the paired candidates (PairedCandidates) of
// both ends. DeepLabCut computes every source x target pair, but its assembler looks at no
// other (extract_best_links keeps each end's num_animals most confident candidates >=
// pcutoff before the assignment), so the assembled animals are the same.
// cells[b][k]: the (row, col) heatmap cell of each candidate of bodypart k in image b.
void ComputeAffinities(const at::Tensor& paf, const PeakCells& cells, const PafPredictorSpec& spec,
                       std::vector<ImageDetections>& images) {
  const int64_t B = paf.size(0), H = paf.size(2), W = paf.size(3);
  const int64_t E = static_cast<int64_t>(spec.graph.size());
  const float* fields = paf.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    ImageDetections& image = images[b];
    for (int edge : spec.edges_to_keep) {
      const int s = spec.graph[edge][0], d = spec.graph[edge][1];
      const auto& src = image.candidates[s];
      const auto& dst = image.candidates[d];
      if (src.empty() || dst.empty()) continue;
      AffinityMatrix m;
      m.rows = static_cast<int64_t>(src.size());
      m.cols = static_cast<int64_t>(dst.size());
      m.paired_only = true;
      m.row_ids = PairedCandidates(src, spec.num_animals, spec.pcutoff);
      m.col_ids = PairedCandidates(dst, spec.num_animals, spec.pcutoff);
      const float* field_x = fields + ((b * E + edge) * 2) * H * W;
      const float* field_y = field_x + H * W;
      m.values.reserve(m.row_ids.size() * m.col_ids.size());
      for (int i : m.row_ids) {
        const auto& from = cells[b][s][i];
        for (int j : m.col_ids) {
          const auto& to = cells[b][d][j];
          m.values.push_back(
              RoundAffinity(PafLineAffinityUnrounded(field_x, field_y, H, W, from[0], from[1], to[0], to[1])));
        }
      }
      image.affinities[edge] = std::move(m);
    }
  }
}

void ValidateSpec(const PafPredictorSpec& spec) {
  auto bad = [&](const std::string& what) {
    throw Error(Status::InvalidArgument("PartAffinityFieldPredictor of head '" + spec.name + "': " + what));
  };
  if (spec.num_keypoints < 1 || spec.num_animals < 1) bad("needs at least one bodypart and one animal");
  if (spec.nms_radius < 1 || spec.nms_radius % 2 == 0) {
    bad("nms_radius must be odd (DeepLabCut's max-pool of an even window changes the map size)");
  }
  if (!(spec.stride > 0) || !(spec.sigma > 0)) bad("stride and sigma must be positive");
  for (const auto& e : spec.graph) {
    if (e[0] < 0 || e[1] < 0 || e[0] >= spec.num_keypoints || e[1] >= spec.num_keypoints || e[0] == e[1]) {
      bad("graph edge (" + std::to_string(e[0]) + ", " + std::to_string(e[1]) + ") does not join two bodyparts");
    }
  }
  for (size_t i = 0; i < spec.edges_to_keep.size(); ++i) {
    const int e = spec.edges_to_keep[i];
    if (e < 0 || e >= static_cast<int>(spec.graph.size())) bad("edges_to_keep holds " + std::to_string(e));
    for (size_t j = 0; j < i; ++j)
      if (spec.edges_to_keep[j] == e) bad("edges_to_keep repeats " + std::to_string(e));
  }
}

}  // namespace

// One affinity of DeepLabCut's compute_edge_costs, from peak cell (r0, c0) to (r1, c1), with
// the float32 operations its tensor ops perform, one rounding each, in their order (this file
// is compiled with -ffp-contract=off so that only the explicit fused multiply-adds are fused):
//   length = |to - from| + eps; point i = from + t_i * (to - from), truncated to int32,
//   clamped to the map; integral = sum_i ((x_{i+1} - x_i) * (v_i + v_{i+1})) / 2 over the
//   9 intervals, per component (x = col for the field's x channel, row for its y channel);
//   affinity = |integral| / length (then RoundAffinity: 3 decimals).
// The summation order and the fused multiply-adds are those of LibTorch 1.13's CPU kernels
// on an AVX2 machine (found by experiment; DeepLabCut's own tensors have the same layout).
// test_paf checks this bit for bit against those tensor ops on random fields and peaks.
float PafLineAffinityUnrounded(const float* field_x, const float* field_y, int64_t H, int64_t W, int64_t r0, int64_t c0,
                               int64_t r1, int64_t c1) {
  const std::array<float, kLineSamples>& t = SampleFractions();
  const float from_r = static_cast<float>(r0), from_c = static_cast<float>(c0);
  const float delta_r = static_cast<float>(r1) - from_r, delta_c = static_cast<float>(c1) - from_c;
  const float length = std::sqrt(delta_r * delta_r + delta_c * delta_c) + static_cast<float>(kFloat32Epsilon);
  float row[kLineSamples], col[kLineSamples], vx[kLineSamples], vy[kLineSamples];
  for (int i = 0; i < kLineSamples; ++i) {
    const float step_r = t[i] * delta_r, step_c = t[i] * delta_c;
    const int32_t r = std::clamp<int32_t>(static_cast<int32_t>(from_r + step_r), 0, static_cast<int32_t>(H - 1));
    const int32_t c = std::clamp<int32_t>(static_cast<int32_t>(from_c + step_c), 0, static_cast<int32_t>(W - 1));
    row[i] = static_cast<float>(r);
    col[i] = static_cast<float>(c);
    vx[i] = field_x[r * W + c];
    vy[i] = field_y[r * W + c];
  }
  // ATen's sum over the 9 intervals (a reduction over a middle dimension of a contiguous
  // (pairs, 9, 2) tensor) keeps 4 interleaved accumulators, then adds them in turn.
  float acc_x[4] = {0, 0, 0, 0}, acc_y[4] = {0, 0, 0, 0};
  for (int i = 0; i + 1 < kLineSamples; ++i) {
    const float sum_x = vx[i] + vx[i + 1], sum_y = vy[i] + vy[i + 1];
    const float area_x = (col[i + 1] - col[i]) * sum_x, area_y = (row[i + 1] - row[i]) * sum_y;
    acc_x[i % 4] += area_x / 2.0f;
    acc_y[i % 4] += area_y / 2.0f;
  }
  const float ix = ((acc_x[0] + acc_x[1]) + acc_x[2]) + acc_x[3];
  const float iy = ((acc_y[0] + acc_y[1]) + acc_y[2]) + acc_y[3];
  // ATen's 2-norm over a last dimension of 2 (its AVX2 kernel, built with FMA): a fused
  // multiply-add per component onto a zero accumulator.
  const float sq = std::fma(iy, iy, std::fma(ix, ix, 0.0f));
  return std::sqrt(sq) / length;
}

float RoundAffinity(float affinity) {
  const float scaled = affinity * 1000.0f;
  return std::nearbyint(scaled) / 1000.0f;
}

int64_t CountPafPeaks(const at::Tensor& heatmap, const PafPredictorSpec& spec) {
  ValidateSpec(spec);
  const at::Tensor hm = heatmap.to(at::kCPU, at::kFloat).contiguous();
  return FindPeaks(hm, at::Tensor(), spec, /*positions=*/false).index.size(0);
}

at::Tensor PredictPafPoses(const at::Tensor& heatmap_in, const at::Tensor& locref_in, const at::Tensor& paf_in,
                           const PafPredictorSpec& spec) {
  ValidateSpec(spec);
  if (!heatmap_in.defined() || heatmap_in.dim() != 4) {
    BadOutput("model output '" + spec.name + "/heatmap' must be (B, K, H, W)");
  }
  const int64_t B = heatmap_in.size(0), K = spec.num_keypoints, H = heatmap_in.size(2), W = heatmap_in.size(3);
  const int64_t E = static_cast<int64_t>(spec.graph.size());
  CheckShape(heatmap_in, "heatmap", spec, B, K, H, W);
  CheckShape(locref_in, "locref", spec, B, 2 * K, H, W);
  CheckShape(paf_in, "paf", spec, B, 2 * E, H, W);
  const at::Tensor heatmap = heatmap_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor locref = locref_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor paf = paf_in.to(at::kCPU, at::kFloat).contiguous();

  at::Tensor poses = at::full({B, spec.num_animals, K, 5}, -1.0f, at::kFloat);
  const Peaks peaks = FindPeaks(heatmap, locref, spec);
  // DeepLabCut tests `~torch.any(peaks)`: a single peak at (0, 0, 0, 0) counts as none.
  // torch.clip on the score column, -1 rows included (they become 0), as DeepLabCut does.
  auto finish = [&]() {
    if (spec.clip_scores) poses.select(3, 2).clamp_(0, 1);
    return poses;
  };
  if (peaks.index.size(0) == 0 || !peaks.index.any().item<bool>()) return finish();

  std::vector<ImageDetections> images(B);
  for (auto& img : images) img.candidates.assign(K, {});
  PeakCells cells(B, std::vector<std::vector<std::array<int64_t, 2>>>(K));
  {
    const at::Tensor idx = peaks.index.contiguous(), xy = peaks.xy.contiguous(), sc = peaks.score.contiguous();
    const int64_t* pi = idx.data_ptr<int64_t>();
    const float* pxy = xy.data_ptr<float>();
    const float* ps = sc.data_ptr<float>();
    for (int64_t n = 0; n < idx.size(0); ++n) {
      const int64_t* p = pi + n * 4;
      images[p[0]].candidates[p[1]].push_back(Candidate{pxy[n * 2], pxy[n * 2 + 1], ps[n]});
      cells[p[0]][p[1]].push_back({p[2], p[3]});
    }
  }
  ComputeAffinities(paf, cells, spec, images);

  AssemblerParams params;
  params.max_individuals = spec.num_animals;
  params.num_bodyparts = spec.num_keypoints;
  params.graph = spec.graph;
  params.paf_inds = spec.edges_to_keep;
  params.pcutoff = spec.pcutoff;
  params.min_affinity = spec.min_affinity;
  params.min_n_links = spec.min_n_links;
  params.max_overlap = spec.max_overlap;
  float* out = poses.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<AssembledAnimal> animals = AssembleAnimals(images[b], params);
    for (size_t j = 0; j < animals.size(); ++j) {
      for (int64_t k = 0; k < K; ++k) {
        float* o = out + ((b * spec.num_animals + static_cast<int64_t>(j)) * K + k) * 5;
        for (int c = 0; c < 4; ++c) o[c] = static_cast<float>(animals[j].keypoints[k][c]);
        o[4] = static_cast<float>(animals[j].affinity);
      }
    }
  }
  return finish();
}

}  // namespace posebatch
