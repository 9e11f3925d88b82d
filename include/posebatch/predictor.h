// Predictors turn head outputs into keypoints. They never touch the network.
// Free functions of their inputs only: safe to call from several threads at once.
// Code: src/predict/ (heatmap_predictor.cc, paf_predictor.cc, dekr_predictor.cc, identity_predictor.cc).
#pragma once

#include <ATen/Tensor.h>

#include "posebatch/model.h"

namespace posebatch {

// DeepLabCut's HeatmapPredictor (single animal): for each keypoint, the argmax cell (iy, ix)
// of its heatmap; x = ix*stride + stride/2 + dx*locref_std (same for y) with (dx, dy) from
// locref channels (2k, 2k+1); score = heatmap value there (after sigmoid if configured),
// clipped to [0, 1] if configured.
// heatmap: float32 (B, K, H, W); locref: float32 (B, 2K, H, W), or undefined when the head
// has no location refinement. Returns float32 (B, K, 3) = x, y, score in network-input pixels.
at::Tensor PredictHeatmapPoses(const at::Tensor& heatmap, const at::Tensor& locref, const HeatmapHeadSpec& head);

// DeepLabCut's PartAffinityFieldPredictor with its Assembler (multi-animal bottom-up), the
// same decisions as DeepLabCut 3.0.1 (ties included): sigmoid, Gaussian smoothing
// (sigma, (2r+1)^2 kernel, zero padding), peaks by a max-pool of window r at >= 0.01,
// peak x = col*stride + floor(stride/2) + dx*locref_std (y likewise), PAF line integrals over
// 10 samples (trapezoid rule, rounded to 3 decimals), then assembly (see
// src/predict/assembler.h for what it does and leaves out).
// heatmap: float32 (B, K, H, W), raw (before sigmoid); locref: (B, 2K, H, W); paf:
// (B, 2E, H, W) with E = spec.graph.size(). Returns float32 (B, num_animals, K, 5) = x, y,
// score, id (-1: no identity), assembly affinity, in network-input pixels; animals in
// DeepLabCut's order; rows of absent animals are all -1; keypoints an animal lacks are
// NaN, NaN, 0, NaN (score clipped like the others with clip_scores).
at::Tensor PredictPafPoses(const at::Tensor& heatmap, const at::Tensor& locref, const at::Tensor& paf,
                           const PafPredictorSpec& spec);

// DeepLabCut's DEKRPredictor (multi-animal bottom-up DEKR), the same tensor operations as
// DeepLabCut 3.0.1 (so ties among equal values resolve alike): optional sigmoid; centre peaks
// = the last heatmap channel where it equals its 5x5 max-pool (elsewhere zeroed), the
// num_animals largest (torch.topk) seed one pose each; keypoint j of the pose seeded at cell
// (cx, cy) is (cx, cy) - offset pair j there; with use_heatmap a keypoint moves to the
// nearest of its heatmap's num_animals largest 5x5 peaks if closer than max_absorb_distance;
// score = centre value, heatmap value at the floored keypoint (peak-masked heatmaps, as
// DeepLabCut masks them in place), or their product; x = x*stride + stride/2 (same for y);
// scores clipped to [0, 1] if configured; then pose NMS: pose j is dropped when, for some
// earlier pose i < j (dropped or not), the number of keypoints k with
// |p_ik - p_jk| < nms_threshold * sqrt(max(w_j^2 + h_j^2, 1)) (w_j, h_j: pose j's extent)
// exceeds nms_threshold; kept poses come first, in reverse seed order, then the dropped ones
// as rows of -1.
// heatmap: float32 (B, K + 1, H, W), raw (centre last); offset: float32 (B, 2K, H, W).
// Returns float32 (B, num_animals, K, 3) = x, y, score in network-input pixels. Throws Error
// (kModelError) when the shapes disagree with the spec or num_animals > H * W.
at::Tensor PredictDekrPoses(const at::Tensor& heatmap, const at::Tensor& offset, const DekrPredictorSpec& spec);
// DeepLabCut's identity readout (projects with identity: true): its IdentityPredictor resizes
// the identity head's maps to int(h*stride) x int(w*stride) input pixels (torchvision's
// bilinear antialiased resize) and applies the sigmoid (apply_sigmoid); its postprocessor's
// PredictKeypointIdentities reads, for each keypoint, the maps at its nearest pixel (np.rint,
// ties to even, clipped into the map: absent animals' -1 keypoints read pixel (0, 0), as
// DeepLabCut's do); keypoints with a NaN coordinate get zeros. DeepLabCut does this before
// mapping poses to frame pixels.
// identity_heatmap: float32 (B, I, h, w), the head's raw output; poses: (B, A, K, >= 2) in
// network-input pixels (PredictPafPoses' output). Returns float32 (B, A, K, I).
at::Tensor PredictIdentityScores(const at::Tensor& identity_heatmap, const at::Tensor& poses,
                                 const IdentityHeadSpec& spec);

// DeepLabCut's AssignIndividualIdentities (after PredictIdentityScores; rescaling to frame
// pixels does not change it): cost[a][i] = mean over keypoints of score * identity score i,
// scipy's linear_sum_assignment maximizing it, animal a placed at row i. poses: (B, A, K,
// >= 3), identity_scores: (B, A, K, I). Returns int64 (B, min(A, I)): row r of the
// reordered output is input animal order[b][r]; reorder poses and identity scores alike
// with ReorderAnimals. Throws Error where DeepLabCut fails (NaN scores, A < I with an
// animal assigned past row A - 1).
at::Tensor AssignIdentityOrder(const at::Tensor& poses, const at::Tensor& identity_scores);

// t: (B, A, ...), order: int64 (B, n) from AssignIdentityOrder. Returns (B, n, ...).
at::Tensor ReorderAnimals(const at::Tensor& t, const at::Tensor& order);

// Checks that the outputs of `head` for a batch of `batch` rows are what the spec promises;
// throws Error (kModelError) with the expected and actual shapes otherwise.
void ValidateHeatmapOutputs(const HeadOutputs& outputs, const HeatmapHeadSpec& head, int64_t batch);

}  // namespace posebatch
