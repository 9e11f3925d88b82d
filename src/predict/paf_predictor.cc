// DeepLabCut's PartAffinityFieldPredictor: candidate keypoints and PAF affinities with the
// same tensor operations as DeepLabCut (so that the same LibTorch rounds the same way, which
// matters where affinities are rounded to 3 decimals and peaks are compared for equality),
// then the Assembler per image.
#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

#include "posebatch/predictor.h"
#include "posebatch/status.h"
#include "predict/assembler.h"

namespace posebatch {
namespace {

constexpr int kLineSamples = 10;  // points along each limb for the PAF line integral
constexpr double kFloat32Epsilon = 1.1920928955078125e-07;  // np.spacing(np.float32(1)): no 0/0

[[noreturn]] void BadOutput(const std::string& what) { throw Error(Status::ModelError(what)); }

std::string ShapeText(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

void CheckShape(const at::Tensor& t, const char* name, const PafPredictorSpec& spec, int64_t batch, int64_t channels,
                int64_t h, int64_t w) {
  if (!t.defined() || t.dim() != 4 || t.size(0) != batch || t.size(1) != channels || t.size(2) != h ||
      t.size(3) != w) {
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

Peaks FindPeaks(const at::Tensor& heatmap, const at::Tensor& locref, const PafPredictorSpec& spec) {
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
  if (p.index.size(0) == 0) return p;
  const at::Tensor b = p.index.select(1, 0), k = p.index.select(1, 1), row = p.index.select(1, 2),
                   col = p.index.select(1, 3);
  p.score = hm.index({b, k, row, col});
  // calc_peak_locations: stride * (col, row) + stride // 2 + locref * locref_std (float32).
  const at::Tensor offsets = locref.reshape({B, K, 2, H, W}).mul(spec.locref_std);
  const at::Tensor off = at::stack({offsets.index({b, k, at::zeros_like(b), row, col}),
                                    offsets.index({b, k, at::ones_like(b), row, col})},
                                   1);
  const float stride = static_cast<float>(spec.stride);
  const at::Tensor strides = at::full({2}, stride, at::kFloat);
  const at::Tensor cells = at::stack({col, row}, 1).to(at::kInt);
  p.xy = strides.mul(cells).add(at::floor_divide(strides, 2)).add(off);
  return p;
}

// compute_edge_costs for the kept edges: PAF line integrals between every source and target
// candidate of each edge, per image. Pairs are made in (image, kept edge, source, target)
// order, so each edge's matrix is one contiguous block.
void ComputeAffinities(const at::Tensor& paf, const Peaks& peaks, const PafPredictorSpec& spec,
                       std::vector<ImageDetections>& images) {
  const int64_t B = paf.size(0), H = paf.size(2), W = paf.size(3);
  const int64_t n_peaks = peaks.index.size(0);
  const at::Tensor idx = peaks.index.contiguous();
  const int64_t* pi = idx.data_ptr<int64_t>();
  // Peaks of each (image, bodypart), in peak order.
  std::vector<std::vector<std::vector<int64_t>>> by_part(B, std::vector<std::vector<int64_t>>(spec.num_keypoints));
  for (int64_t n = 0; n < n_peaks; ++n) by_part[pi[n * 4]][pi[n * 4 + 1]].push_back(n);

  struct Block {
    int64_t image, edge, rows, cols, first;
  };
  std::vector<Block> blocks;
  std::vector<int64_t> pair_image, pair_edge, pair_src, pair_dst;
  for (int64_t b = 0; b < B; ++b) {
    for (int edge : spec.edges_to_keep) {
      const auto& src = by_part[b][spec.graph[edge][0]];
      const auto& dst = by_part[b][spec.graph[edge][1]];
      if (src.empty() || dst.empty()) continue;
      blocks.push_back({b, edge, static_cast<int64_t>(src.size()), static_cast<int64_t>(dst.size()),
                        static_cast<int64_t>(pair_src.size())});
      for (int64_t s : src) {
        for (int64_t t : dst) {
          pair_image.push_back(b);
          pair_edge.push_back(edge);
          pair_src.push_back(s);
          pair_dst.push_back(t);
        }
      }
    }
  }
  if (blocks.empty()) return;
  const int64_t n_pairs = static_cast<int64_t>(pair_src.size());
  auto as_tensor = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); };
  const at::Tensor src = as_tensor(pair_src), dst = as_tensor(pair_dst);
  const at::Tensor rc = peaks.index.narrow(1, 2, 2);  // (row, col), already inside the map
  const at::Tensor from = rc.index_select(0, src).to(at::kFloat), to = rc.index_select(0, dst).to(at::kFloat);
  const at::Tensor delta = to - from;
  const at::Tensor lengths = at::frobenius_norm(delta, {1}, false) + kFloat32Epsilon;
  // Sample points, truncated to cells as int32, clamped to the map.
  const at::Tensor t = at::linspace(0, 1, kLineSamples, at::kFloat).view({1, kLineSamples, 1});
  at::Tensor xy = (from.unsqueeze(1) + t * delta.unsqueeze(1)).to(at::kInt);
  xy = at::stack({xy.select(2, 0).clamp(0, H - 1), xy.select(2, 1).clamp(0, W - 1)}, 2);
  const at::Tensor rows = xy.select(2, 0).to(at::kLong), cols = xy.select(2, 1).to(at::kLong);
  const at::Tensor image = as_tensor(pair_image).view({n_pairs, 1}).expand({n_pairs, kLineSamples});
  const at::Tensor edge = as_tensor(pair_edge).view({n_pairs, 1}).expand({n_pairs, kLineSamples});
  const at::Tensor fields = paf.reshape({B, -1, 2, H, W});
  const at::Tensor vectors = at::stack({fields.index({image, edge, at::zeros_like(image), rows, cols}),
                                        fields.index({image, edge, at::ones_like(image), rows, cols})},
                                       2);  // (pairs, samples, 2): x, y components
  const at::Tensor integral = at::trapz(vectors, xy.to(at::kFloat).flip({-1}), 1);
  at::Tensor affinity = at::frobenius_norm(integral, {1}, false) / lengths;
  affinity = at::round(affinity * 1000) / 1000;
  affinity = affinity.contiguous();
  const float* a = affinity.data_ptr<float>();
  for (const Block& blk : blocks) {
    AffinityMatrix m;
    m.rows = blk.rows;
    m.cols = blk.cols;
    m.values.assign(a + blk.first, a + blk.first + blk.rows * blk.cols);
    images[blk.image].affinities[blk.edge] = std::move(m);
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
  {
    const at::Tensor idx = peaks.index.contiguous(), xy = peaks.xy.contiguous(), sc = peaks.score.contiguous();
    const int64_t* pi = idx.data_ptr<int64_t>();
    const float* pxy = xy.data_ptr<float>();
    const float* ps = sc.data_ptr<float>();
    for (int64_t n = 0; n < idx.size(0); ++n) {
      images[pi[n * 4]].candidates[pi[n * 4 + 1]].push_back(Candidate{pxy[n * 2], pxy[n * 2 + 1], ps[n]});
    }
  }
  ComputeAffinities(paf, peaks, spec, images);

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
