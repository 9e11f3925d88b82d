// The pieces of DeepLabCut 3.0.1's TrackletStitcher (refine_training_dataset/stitch.py;
// ../shared/reference/tracking.md §3), shared by its steps: tracklet arithmetic (stitcher.cc),
// residual pre-stitching (residual_prestitch.cc) and the min-cost flow (track_flow.cc).
// Internal to src/track. Thread-safety: free functions of their arguments.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "posebatch/tracking.h"

namespace posebatch {
namespace stitch {

// Tracklet.__add__: the rows of both, stably sorted by frame when not strictly increasing.
TrackletRows Concat(const TrackletRows& a, const TrackletRows& b);

// Tracklet.centroid at row i: the likelihood-weighted mean of x, y. Every keypoint with a
// likelihood enters the weights, also those whose x, y are NaN (DeepLabCut's quirk).
std::array<double, 2> Centroid(const TrackletRows& t, size_t i);

// Tracklet.identity: the most common identity (ties: the smallest; NaN ignored); -1 without
// an identity column or value.
double Identity(const TrackletRows& t);

// `a in b`: the two share a frame.
bool Overlaps(const TrackletRows& a, const TrackletRows& b);

// Tracklet.box_overlap_with (a before b): IoU of a's last and b's first keypoint boxes.
double BoxOverlap(const TrackletRows& a, const TrackletRows& b);

// _prestitch_residuals(max_gap): residuals chained along each component's longest path by
// 1 - IoU, as networkx 2.8's dag_longest_path breaks ties; the chains are appended, and
// DeepLabCut's removal by sorted-list index is kept.
void PrestitchResiduals(std::vector<TrackletRows>* residuals, int64_t max_gap);

// The min-cost flow over the start-sorted tracklets (build_graph + stitch): the tracks as
// lists of indices into `nodes`. `weights[i][j]` gives the link cost of i -> j (only asked
// for links the graph has). Returns false when the flow is infeasible.
struct Link {
  size_t from = 0, to = 0;
  int64_t weight = 0;
};
bool MinCostPaths(size_t n_nodes, const std::vector<Link>& links, int64_t n_tracks,
                  std::vector<std::vector<size_t>>* paths);

// The fallback's node-disjoint paths (source -> a first tracklet ... a last tracklet -> sink),
// at most `cutoff`, through `links`, as networkx 2.8's node_disjoint_paths with preflow_push
// finds them (disjoint_paths.cc): lists of indices. False where networkx raises NetworkXNoPath.
bool DisjointPaths(size_t n_nodes, const std::vector<Link>& links, const std::vector<bool>& may_start,
                   const std::vector<bool>& may_end, int64_t cutoff, std::vector<std::vector<size_t>>* paths);

}  // namespace stitch
}  // namespace posebatch
