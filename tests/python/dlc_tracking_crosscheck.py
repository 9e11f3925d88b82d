"""DeepLabCut's own CTD tracking functions against ctd_tracking_reference.py (the statement of
its rules that test_ctd.py replays posebatch's tracking with), on random frame sequences.

Not run by CI: it needs DeepLabCut's source (3.0.1: a checkout or `git show` of it). The
functions (nms_oks, calc_object_keypoint_similarity, CTDInferenceRunner's _prepare_ctd_inputs,
_ctd_tracking_postprocess, _merge_conditions) are taken from that source with `ast` and run on a
stub runner; nothing of DeepLabCut is imported or copied here.

Usage: /usr/bin/python3 tests/python/dlc_tracking_crosscheck.py DEEPLABCUT_SOURCE_ROOT
"""
import ast
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctd_tracking_reference as ref  # noqa: E402

ROOT = os.path.join(sys.argv[1], "deeplabcut")

def extract(path, names, cls=None):
    tree = ast.parse(open(path).read())
    out = {}
    nodes = tree.body
    if cls:
        nodes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls][0].body
    for n in nodes:
        if isinstance(n, ast.FunctionDef) and n.name in names:
            n.decorator_list = []
            out[n.name] = ast.unparse(n)
    return out

import torch
ns = {"np": np, "itertools": __import__("itertools"), "torch": torch, "Path": __import__("pathlib").Path, "Any": object}
from dataclasses import dataclass
exec("from __future__ import annotations\n" + open(os.path.join(ROOT, "pose_estimation_pytorch/runners/ctd.py")).read().split('"""Configuration for CTD tracking."""')[1], ns)
for src in extract(os.path.join(ROOT, "core/inferenceutils.py"), ["calc_object_keypoint_similarity"]).values():
    exec("from __future__ import annotations\n" + src, ns)
for src in extract(os.path.join(ROOT, "pose_estimation_pytorch/post_processing/nms.py"), ["nms_oks"]).values():
    exec("from __future__ import annotations\n" + src, ns)
ns["nms"] = types.SimpleNamespace(nms_oks=ns["nms_oks"])
meths = extract(os.path.join(ROOT, "pose_estimation_pytorch/runners/inference.py"), ["_prepare_ctd_inputs", "_ctd_tracking_postprocess", "_merge_conditions"], "CTDInferenceRunner")
cls_src = "class DLC:\n" + "\n".join("    " + l for m in meths.values() for l in m.splitlines())
exec("from __future__ import annotations\n" + cls_src, ns)
DLC = ns["DLC"]

def run(seed, frames=40, k=5, n=3, w=320, h=240, **cfg):
    rng = np.random.default_rng(seed)
    d = DLC()
    d.tracking = ns["CTDTrackingConfig"](**cfg)
    d._bu_age, d._missing_idvs, d._prev_pose, d._idx_to_id, d._ctd_track_ages = -1, False, None, None, None
    bu_now = {}
    def add_conditions(data):
        return data, {"cond_kpts": bu_now["c"]}
    d.add_conditions = add_conditions
    d.preprocessor = None
    r = ref.Tracker(k, **{kk: v for kk, v in cfg.items()})
    base = rng.uniform([20, 20], [w - 20, h - 20], size=(n, 2))
    stats = {"bu": 0, "merge_added": 0, "nms_drop": 0}
    for t in range(frames):
        # BU poses: around the animals, some missing, random scores
        m = rng.integers(0, n + 2)
        bu = np.concatenate([base[rng.integers(0, n, m)][:, None, :] + rng.normal(0, 8, (m, k, 2)),
                             rng.uniform(-0.2, 1, (m, k, 1))], axis=2).astype(np.float32)
        bu_now["c"] = bu
        run_ref = r.begin()
        _, ctx = d._prepare_ctd_inputs(np.zeros(1))
        run_dlc = d._bu_age == 0
        assert run_ref == run_dlc, (t, run_ref, run_dlc)
        cond_dlc = ctx["cond_kpts"]
        cond_ref = r.conditions(bu if run_ref else None)
        stats["bu"] += run_ref
        if run_ref and r.tracks is not None and len(cond_ref) > len(r.tracks):
            stats["merge_added"] += 1
        np.testing.assert_array_equal(np.asarray(cond_dlc, np.float32), np.asarray(cond_ref, np.float32), err_msg=f"frame {t}")
        # DeepLabCut rescores (keeps cond_kpts in the postprocessor's context) iff it has no
        # previous poses when the frame is postprocessed.
        assert r.rescore == (d._prev_pose is None), (t, r.rescore)
        # CTD predictions in condition order, padded with -1 rows to n (random, near the conditions)
        c = np.nan_to_num(np.asarray(cond_ref, np.float32), nan=50)
        c = c[:n]
        pred = np.concatenate([c[:, :, :2] + rng.normal(0, 3, c[:, :, :2].shape),
                               rng.uniform(-0.05, 1, c[:, :, :1].shape)], axis=2).astype(np.float32)
        if rng.random() < 0.3 and len(pred) > 1:  # two tracks converge on one animal
            pred[1] = pred[0] + rng.normal(0, 0.5, pred[0].shape).astype(np.float32)
        if rng.random() < 0.2 and len(pred):  # a track fades
            pred[rng.integers(len(pred)), :, 2] = 0.005
        pad = np.full((max(0, n - len(pred)), k, 3), -1, np.float32)
        rows = np.concatenate([pred, pad], axis=0)
        preds = {"bodyparts": rows.copy()}
        mine = r.permute(rows)
        d._ctd_tracking_postprocess(preds, (w, h))
        np.testing.assert_array_equal(preds["bodyparts"], mine, err_msg=f"rows frame {t}")
        r.end(mine, w, h)
        if d._prev_pose is None:
            assert r.tracks is None, t
        else:
            np.testing.assert_array_equal(d._prev_pose, r.tracks, err_msg=f"tracks frame {t}")
            assert list(d._idx_to_id) == list(r.row_of), (t, d._idx_to_id, r.row_of)
            np.testing.assert_array_equal(d._ctd_track_ages, r.ages)
            stats["nms_drop"] += len(r.tracks) < len(r.row_of)
    return stats

tot = {"bu": 0, "merge_added": 0, "nms_drop": 0}
for seed in range(300):
    cfgs = [{}, {"bu_min_frequency": 3}, {"bu_max_frequency": 2, "threshold_nms": 0.5}, {"bu_on_lost_idv": False, "threshold_ctd": 0.3}]
    for cfg in cfgs:
        s = run(seed, **cfg)
        for key in tot: tot[key] += s[key]
print("300 seeds x 4 configs x 40 frames: equal", tot)  # noqa: T201
