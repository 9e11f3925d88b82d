// DeepLabCut's Assembler (deeplabcut/core/inferenceutils.py), as its PyTorch
// PartAffinityFieldPredictor uses it: keypoint candidates and PAF affinities of one image ->
// animals. Reproduced decision for decision, ties included (affinities are rounded to 3
// decimals, so ties are common): the Hungarian pairing per edge (scipy's tie rules), complete
// connected components first, then greedy growth from the strongest link with a priority
// queue ordered as Python's heapq with an insertion counter (seeded in CPython's set iteration
// order), fusion of partial assemblies over unused links, min_n_links, the max_overlap
// suppression and the num_animals cut.
// Not reproduced (rejected by the config parser instead): calibration (the Mahalanobis
// "safe edge"), identity, window-based tracking, greedy mode, force_fusion, add_discarded.
// Free functions of their inputs: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace posebatch {

struct AssemblerParams {
  int max_individuals = 1;                // num_animals
  int num_bodyparts = 0;                  // n_multibodyparts
  std::vector<std::array<int, 2>> graph;  // PAF graph: (source, target) bodyparts per edge
  std::vector<int> paf_inds;              // indices into graph of the edges to use, in order
  double pcutoff = 0.1;                   // candidates below this confidence are not paired
  double min_affinity = 0.05;             // links below this affinity are dropped
  int min_n_links = 2;                    // assemblies with fewer links (but some) are dropped
  double max_overlap = 0.8;               // pose suppression threshold, used when in (0, 1)
};

// One keypoint candidate: position (network-input pixels) and confidence.
struct Candidate {
  float x = 0, y = 0, score = 0;
};

// Affinities between the candidates of an edge's source (rows) and target (columns).
// The assembler reads only the pairs of PairedCandidates(source) x PairedCandidates(target),
// so a producer may compute just those: it then sets paired_only, names them in row_ids /
// col_ids (positions in the bodyparts' candidate lists), and `values` is that
// row_ids.size() x col_ids.size() block. Otherwise `values` is the full rows x cols matrix.
struct AffinityMatrix {
  int64_t rows = 0, cols = 0;  // candidates of the source / target bodypart
  std::vector<float> values;   // row-major
  bool paired_only = false;
  std::vector<int> row_ids, col_ids;
};

struct ImageDetections {
  std::vector<std::vector<Candidate>> candidates;  // per bodypart, in peak order
  std::map<int, AffinityMatrix> affinities;        // by graph edge index
};

struct AssembledAnimal {
  // Per bodypart: x, y, score, id; bodyparts not assembled are NaN, NaN, 0, NaN (as
  // DeepLabCut's Assembly.data). id is -1 (no identity head).
  std::vector<std::array<double, 4>> keypoints;
  double affinity = 0;  // mean affinity of the assembly's links (0 without links)
};

// Positions in `candidates` (one bodypart's, in peak order) of those DeepLabCut pairs over an
// edge: the max_individuals most confident (stable descending sort), keeping those >= pcutoff,
// in that order.
std::vector<int> PairedCandidates(const std::vector<Candidate>& candidates, int max_individuals, double pcutoff);

// The animals of one image, in DeepLabCut's reported order (at most max_individuals).
std::vector<AssembledAnimal> AssembleAnimals(const ImageDetections& detections, const AssemblerParams& params);

// The iteration order of CPython's set of non-negative ints after inserting `keys` in turn
// (DeepLabCut iterates such a set to seed its priority queue). Exposed for tests.
std::vector<int64_t> PythonSetIterationOrder(const std::vector<int64_t>& keys);

}  // namespace posebatch
