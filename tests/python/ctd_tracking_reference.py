"""An independent numpy statement of DeepLabCut 3.0.1's CTD tracking rules (CTDInferenceRunner
with a CTDTrackingConfig), written from its documented behaviour for the tests: which frames
run the conditions source, how its poses join the tracks, what is passed on as the next
frame's conditions (threshold, frame bounds, OKS NMS ordered by track age), and the row
permutation applied to each frame's output.

Use per frame, in order: begin() -> conditions(source or None) -> [CTD model] -> end(rows),
where `rows` are the frame's output rows after the permutation (what posebatch writes); the
permutation for the frame is `row_of` as it stands before end().
"""
import numpy as np

EPS = np.spacing(1)


def oks(pred, truth, sigma, margin):
    """OKS of two float32 (K, 3) poses (the score column counts, as DeepLabCut passes whole
    poses), evaluated in float32 as numpy 1.x does with DeepLabCut's float32 predictions."""
    pred, truth = np.asarray(pred, np.float32), np.asarray(truth, np.float32)
    seen = ~np.isnan(truth).all(axis=1)
    if seen.sum() < 2:
        return np.nan
    t = truth[seen]
    scale = np.prod(np.ptp(t, axis=0) + EPS + 2 * margin)
    if np.isclose(scale, 0):
        return np.nan
    p = pred[seen].copy()
    p[np.isnan(p)] = np.inf
    d2 = np.sum((p - t) ** 2, axis=1)
    return np.mean(np.exp(-d2 / (2 * scale * (2 * sigma) ** 2)))


def descending(values):
    """Indices by decreasing value; ties: the larger index first (a stable ascending sort, reversed)."""
    return list(np.argsort(np.asarray(values, dtype=np.float64), kind="stable")[::-1])


def nms(poses, threshold, sigma, margin, score_threshold, order=None):
    n = len(poses)
    if n == 0:
        return np.zeros(0, bool)
    if n == 1:
        return np.ones(1, bool)
    p = poses.astype(np.float32).copy()
    low = p[:, :, 2] < score_threshold
    p[low] = np.nan
    vis_kpt = ~np.isnan(p).any(axis=2)
    p[~vis_kpt] = np.nan
    vis = vis_kpt.sum(axis=1) > 1
    if not vis.any():
        return np.zeros(n, bool)
    if order is None:
        scores = np.zeros(n)
        for i in np.flatnonzero(vis):
            scores[i] = np.nanmean(p[i, :, 2])
        order = [i for i in descending(scores) if scores[i] > 0]
    keep = np.zeros(n, bool)
    order = list(order)
    while order:
        i, rest = order[0], order[1:]
        keep[i] = True
        order = [j for j in rest if (lambda s: not np.isnan(s) and s < threshold)(oks(p[i], p[j], sigma, margin))]
    return keep


class Tracker:
    def __init__(self, k, bu_on_lost_idv=True, bu_min_frequency=None, bu_max_frequency=100, threshold_bu_add=0.25,
                 threshold_ctd=0.01, threshold_nms=0.9):
        self.k = k
        self.on_lost, self.min_f, self.max_f = bu_on_lost_idv, bu_min_frequency, bu_max_frequency
        self.t_add, self.t_ctd, self.t_nms = threshold_bu_add, threshold_ctd, threshold_nms
        self.age = -1
        self.missing = False
        self.tracks = None  # (n, K, 3) float32, NaN-masked
        self.row_of = None  # kept rows, then the others
        self.ages = None
        self.rescore = True

    def begin(self):
        self.age += 1
        self.rescore = self.tracks is None
        run = (self.tracks is None or (self.missing and self.on_lost and self.age >= self.max_f)
               or (self.min_f is not None and self.age >= self.min_f))
        if run:
            self.age = 0
        return run

    def conditions(self, source):
        if source is None:
            return self.tracks
        source = np.asarray(source, np.float32).reshape(-1, self.k, 3)
        if self.tracks is None:
            return source
        cand = source.copy()
        cand[cand[:, :, 2] < self.t_ctd] = np.nan
        added = []
        for pose in cand:
            if (~np.isnan(pose).any(axis=1)).sum() <= 1:
                continue
            best = 0.0
            for track in self.tracks:
                s = oks(pose, track, 0.1, 0.0)
                if s > best:
                    best = s
            if best < self.t_add:
                added.append((best, pose))
        if not added:
            return self.tracks
        added.sort(key=lambda a: a[0])  # stable
        merged = np.concatenate([self.tracks, np.stack([a[1] for a in added])], axis=0)
        return merged[:len(self.row_of)]

    def permute(self, rows, stable=False):
        """Output rows of a frame from the CTD poses in condition order (DeepLabCut's permutation)."""
        if self.row_of is None:
            return rows
        out = np.full((len(self.row_of),) + rows.shape[1:], -1, np.float32)
        for i, r in enumerate(self.row_of):
            src, dst = (i, r) if stable else (r, i)
            if src < len(rows):
                out[dst] = rows[src]
        return out

    def end(self, rows, width, height):
        """Updates the tracks from the frame's rows as written (after the permutation)."""
        nxt = np.asarray(rows, np.float32)[:, :, :3].copy()
        k = nxt[..., 2] <= self.t_ctd
        k |= nxt[..., 0] < 0
        k |= nxt[..., 1] < 0
        k |= nxt[..., 0] >= width
        k |= nxt[..., 1] >= height
        nxt[k] = np.nan
        order = None
        if self.ages is not None:
            ordering = self.ages.copy()
            for i, pose in enumerate(nxt):
                if (~np.isnan(pose).any(axis=1)).sum() > 1:
                    ordering[i] += np.nanmean(pose[:, 2])
            order = [i for i in descending(ordering) if ordering[i] > 0]
        keep = nms(nxt, self.t_nms, 0.1, 1.0, self.t_ctd, order)
        if not keep.any():
            self.tracks = self.row_of = self.ages = None
            return
        self.tracks = nxt[keep]
        self.row_of = list(np.flatnonzero(keep)) + list(np.flatnonzero(~keep))
        if self.ages is None:
            self.ages = np.zeros(len(self.row_of))
        self.ages[keep] += 1
        self.ages[~keep] = 0
        self.missing = len(self.tracks) != len(self.row_of)
