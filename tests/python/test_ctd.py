"""Conditional top-down (CTD) analysis end to end: conditions per frame -> DeepLabCut's CTD
crops batched across frames, with a (B, K, 3) conditions tensor beside each pose batch ->
CondPreNet + CSPNeXt + RTMCC -> SimCC -> CTD rescoring -> rows in frame order.

Parity: DeepLabCut's own final keypoints for the golden ctd_rtmpose_s case (conditions given,
one pose below the 0.05 filter, one with a missing keypoint), through the CLI, with the
conditions in each file format DeepLabCut reads (.json, .h5). Consistency: on a video, batch
sizes agree and frames without conditions pass through as rows of -1; conditions from a
bottom-up model run in the same pipeline equal the same conditions given as a file.

Tracking (--ctd-tracking): each frame's poses are the next frame's conditions. The run is
replayed with an independent numpy statement of DeepLabCut's tracking rules
(ctd_tracking_reference.py; checked against DeepLabCut 3.0.1's own functions, see the README):
from the tracked rows it derives every frame's conditions and row permutation, and a plain CTD
run given those conditions must give the tracked rows.
"""
import glob
import json
import os
import pickle
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd

import ctd_tracking_reference as tracking_ref

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOLDEN = os.environ["POSEBATCH_GOLDEN"]
CASE = os.path.join(GOLDEN, "ctd_rtmpose_s")
MODEL = os.path.join(FIX, "dlc", "ctd_rtmpose_s.pt")
VIDEO = os.path.join(FIX, "videos", "index_h264.mp4")  # 75 frames, 320x240
BODYPARTS = ["snout", "leftear", "rightear", "tailbase", "paw"]
INDIVIDUALS = ["mus1", "mus2", "mus3"]


def run(*args):
    # analyze: the detections only (random weights and a few frames give nothing to stitch;
    # tracking is tested in test_tracking.py and test_multi_animal.py).
    if args and args[0] == "analyze":
        args = (*args, "--no-track")
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=900)


def write_h5(path, index, poses_per_row):
    """A DeepLabCut predictions DataFrame (individuals x bodyparts x coords), NaN where absent."""
    cols = pd.MultiIndex.from_product([["DLC_bu"], INDIVIDUALS, BODYPARTS, ["x", "y", "likelihood"]],
                                      names=["scorer", "individuals", "bodyparts", "coords"])
    data = np.full((len(index), len(cols)), np.nan)
    for r, poses in enumerate(poses_per_row):
        flat = np.asarray(poses, dtype=np.float64).reshape(-1)
        data[r, :flat.size] = flat
    pd.DataFrame(data, columns=cols, index=index).to_hdf(path, key="df_with_missing", format="table", mode="w")


def read_rows(folder):
    return pd.read_hdf(glob.glob(os.path.join(folder, "*.h5"))[0])


class GoldenParity(unittest.TestCase):
    FRAMES = [os.path.join(CASE, f"frame{i}.png") for i in (0, 1)]

    def conditions(self, i):
        return np.load(os.path.join(CASE, f"frame{i}_cond_kpts.npy"))

    def check(self, conditions_file, d, *extra):
        out = os.path.join(d, "out")
        r = run("analyze", MODEL, *self.FRAMES, "--conditions", conditions_file, "--dest", out, "-q", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        df = read_rows(out)
        self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
        for i in (0, 1):
            want = np.load(os.path.join(CASE, f"frame{i}_final_bodyparts.npy"))
            got = df.iloc[i].to_numpy().reshape(want.shape)
            np.testing.assert_allclose(got[..., :2], want[..., :2], atol=1e-3, rtol=0, err_msg=f"frame {i}")
            np.testing.assert_allclose(got[..., 2], want[..., 2], atol=1e-5, rtol=0, err_msg=f"frame {i}")

    def test_json_conditions_crops_of_two_frames_per_batch(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "conditions.json")
            with open(path, "w") as f:
                json.dump({p: self.conditions(i).tolist() for i, p in enumerate(self.FRAMES)}, f)
            # Batch 3: frame 0's two kept conditions and frame 1's one share a batch.
            self.check(path, d, "-b", "3")

    def test_h5_conditions_one_crop_per_batch(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "conditions.h5")
            write_h5(path, self.FRAMES, [self.conditions(i) for i in (0, 1)])
            self.check(path, d, "-b", "1")


class Video(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dest = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def analyze(self, sub, *args, frames=10):
        d = os.path.join(self.dest, sub)
        r = run("analyze", MODEL, VIDEO, "--frames", f"0:{frames}", "--dest", d, "-q", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return read_rows(d)

    def test_batch_sizes_agree_and_frames_without_conditions_pass_through(self):
        rng = np.random.default_rng(8)
        rows, index = [], []
        for frame in range(10):
            if frame in (3, 4, 5):
                continue  # no entry: no animal
            n = frame % 3 + 1
            poses = np.concatenate([rng.uniform(10, 230, (n, 5, 2)), rng.uniform(0.3, 1, (n, 5, 1))], axis=2)
            if frame == 7:
                poses[:] = np.nan  # an entry without a visible pose
            rows.append(poses)
            index.append(frame)
        path = os.path.join(self.dest, "conditions.h5")
        write_h5(path, index, rows)
        base = self.analyze("b1", "--conditions", path, "-b", "1")
        self.assertEqual(len(base), 10)
        values = base.to_numpy().reshape(10, 3, 5, 3)
        for frame in (3, 4, 5, 7):
            np.testing.assert_array_equal(values[frame], -1, err_msg=f"frame {frame} has no condition")
        self.assertTrue(np.all(values[0, 0] != -1) and np.all(values[0, 1:] == -1))
        self.assertTrue(np.all(values[2, :, :, :2] != -1))  # three animals
        # _full.pickle: DeepLabCut's CTD reports the boxes made from the conditions, unscored.
        with open(glob.glob(os.path.join(self.dest, "b1", "*_full.pickle"))[0], "rb") as f:
            full = pickle.load(f)
        key = lambda i: "frame" + str(i).zfill(int(np.ceil(np.log10(10))))  # DeepLabCut's key width
        boxes = full[key(2)]["bboxes"]
        self.assertEqual(boxes.shape, (3, 4))
        self.assertTrue(np.all(boxes[:, 2:] > 0))
        self.assertNotIn("bbox_scores", full[key(2)])
        np.testing.assert_array_equal(full[key(3)]["bboxes"], -1)
        for b in ("4", "7"):
            other = self.analyze("b" + b, "--conditions", path, "-b", b, "--slots", "2")
            np.testing.assert_array_equal(other.to_numpy(), base.to_numpy(), err_msg=f"batch {b}")

    def test_conditions_from_bottom_up_model_equal_the_same_conditions_from_a_file(self):
        # A bottom-up model with the CTD model's five bodyparts (HRNet-W32, one animal). Its own
        # analysis, turned into conditions as DeepLabCut's CTDInferenceRunner.add_conditions
        # does (poses with a keypoint whose x, y and score are all > 0; nothing else changed)
        # and given as a JSON file (taken as given, as DeepLabCut's CondFromFile), must give the
        # rows that running the model in the same pipeline gives. (An .h5 would not: DeepLabCut
        # zeroes its negative keypoints, and this model's random weights place some outside.)
        bu = os.path.join(FIX, "dlc", "hrnet_w32_bu_single.pt")
        bu_dir = os.path.join(self.dest, "bu")
        r = run("analyze", bu, VIDEO, "--frames", "0:5", "--dest", bu_dir, "-q", "-b", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        poses = read_rows(bu_dir).to_numpy().astype(np.float32).reshape(5, 1, 5, 3)
        conditions = [p[np.any(np.all(p > 0, axis=2), axis=1)].tolist() for p in poses]
        self.assertGreater(sum(len(c) for c in conditions), 0, "the bottom-up model found animals")
        path = os.path.join(self.dest, "conditions.json")
        with open(path, "w") as f:
            json.dump(conditions, f)
        given = self.analyze("file", "--conditions", path, "-b", "3", frames=5)
        model = self.analyze("model", "--conditions-model", bu, "-b", "3", "--detector-batch-size", "3", frames=5)
        self.assertGreater(int((model.to_numpy() != -1).sum()), 0, "conditions were used")
        np.testing.assert_array_equal(model.to_numpy(), given.to_numpy())

    def test_h5_keypoints_with_negative_values_are_zeroed_as_deeplabcut_does(self):
        # DeepLabCut's CondFromFile zeroes (x, y, score) of an .h5 keypoint with a NaN or negative
        # value; JSON conditions are taken as given.
        poses = np.array([[[60, 50, 0.9], [-5, 40, 0.8], [70, 62, 0.7], [75, 90, 0.9], [50, 80, 0.6]]], np.float32)
        h5 = os.path.join(self.dest, "conditions.h5")
        write_h5(h5, [0, 1], [poses, poses])
        zeroed = poses.copy()
        zeroed[0, 1] = 0
        path = os.path.join(self.dest, "zeroed.json")
        with open(path, "w") as f:
            json.dump([zeroed.tolist(), zeroed.tolist()], f)
        a = self.analyze("h5", "--conditions", h5, "-b", "2", frames=2)
        b = self.analyze("json", "--conditions", path, "-b", "2", frames=2)
        self.assertTrue(np.all(a.to_numpy()[:, :15] != -1))
        np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())

    def test_hrnet_variant_end_to_end(self):
        # ctd_prenet_hrnet_w32 (CondPreNet around HRNet-W32, a top-down HeatmapHead decoded as
        # top-down heatmaps; no golden case: HRNet, the pre-nets and the head are each checked
        # against DeepLabCut elsewhere): conditions from a file, crops batched across frames.
        model = os.path.join(FIX, "dlc", "ctd_hrnet_w32.pt")
        rng = np.random.default_rng(3)
        conditions = []
        for frame in range(6):
            n = frame % 3
            conditions.append(np.concatenate([rng.uniform(40, 200, (n, 5, 2)), rng.uniform(0.3, 1, (n, 5, 1))],
                                             axis=2).tolist())
        path = os.path.join(self.dest, "hrnet_conditions.json")
        with open(path, "w") as f:
            json.dump(conditions, f)
        rows = {}
        for b in ("1", "3"):
            d = os.path.join(self.dest, "hrnet" + b)
            r = run("analyze", model, VIDEO, "--frames", "0:6", "--dest", d, "-q", "--conditions", path, "-b", b)
            self.assertEqual(r.returncode, 0, r.stderr)
            rows[b] = read_rows(d).to_numpy().reshape(6, 3, 5, 3)
        np.testing.assert_allclose(rows["3"][..., :2], rows["1"][..., :2], atol=1e-3, rtol=0)
        np.testing.assert_allclose(rows["3"][..., 2], rows["1"][..., 2], atol=1e-5, rtol=0)
        for frame, c in enumerate(conditions):
            found = rows["1"][frame]
            np.testing.assert_array_equal(found[len(c):], -1, err_msg=f"frame {frame}")
            if c:  # keypoints in the frame, near the crop the conditions made (margin 25)
                xy = found[:len(c), :, :2]
                box = np.asarray(c)[:, :, :2]
                self.assertTrue(np.all(xy >= box.min(axis=1, keepdims=True) - 60), f"frame {frame}")
                self.assertTrue(np.all(xy <= box.max(axis=1, keepdims=True) + 60), f"frame {frame}")

    def test_missing_conditions_source_is_a_clear_error(self):
        r = run("analyze", MODEL, VIDEO, "--frames", "0:2", "--dest", self.dest, "-q")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("needs conditions", r.stderr)


class Tracking(unittest.TestCase):
    """CTD tracking on a video, with a 3-animal bottom-up model (DEKR-W18 widened to the CTD
    model's 5 bodyparts, bench/make_ctd_bench_model.py) as the conditions source."""

    FRAMES = 14

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dest = cls.tmp.name
        cls.bu = os.path.join(cls.dest, "dekr5.pt")
        # The golden CTD model's random SimCC logits are tiny: every rescored pose scores 0 and
        # no track would start. Its last layers x 1000 give scores of 0.1-0.8 (same network).
        bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
        cls.model = os.path.join(cls.dest, "ctd_x1000.pt")
        subprocess.run(["/usr/bin/python3", os.path.join(bench, "make_ctd_tracking_model.py"), MODEL, cls.model],
                       check=True, capture_output=True, timeout=600)
        subprocess.run(["/usr/bin/python3", os.path.join(bench, "make_ctd_bench_model.py"), GOLDEN, cls.bu],
                       check=True, capture_output=True, timeout=600)
        d = os.path.join(cls.dest, "bu")
        r = run("analyze", cls.bu, VIDEO, "--frames", f"0:{cls.FRAMES}", "--dest", d, "-q", "-b", "4")
        assert r.returncode == 0, r.stderr
        poses = read_rows(d).to_numpy().astype(np.float32).reshape(cls.FRAMES, -1, 5, 3)
        # DeepLabCut's add_conditions: poses with a keypoint whose x, y and score are all > 0.
        cls.source = [p[np.any(np.all(p > 0, axis=2), axis=1)] for p in poses]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def analyze(self, sub, *args):
        d = os.path.join(self.dest, sub)
        r = run("analyze", self.model, VIDEO, "--frames", f"0:{self.FRAMES}", "--dest", d, "-q", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return d

    def replay(self, sub, settings, **reference):
        # One crop per batch in both runs: batches of other compositions sum in other orders
        # (scores differ by ~1e-6; see test_batch_sizes_agree).
        d = self.analyze(sub, "--conditions-model", self.bu, "--ctd-tracking-config", settings, "-b", "1")
        tracked = read_rows(d)
        ctd_h5 = glob.glob(os.path.join(d, "*_ctd.h5"))
        self.assertEqual(len(ctd_h5), 1, "DeepLabCut's tracked file <stem><scorer>_ctd.h5")
        pd.testing.assert_frame_equal(pd.read_hdf(ctd_h5[0]), tracked)
        rows = tracked.to_numpy().astype(np.float32).reshape(self.FRAMES, 3, 5, 3)
        stable = reference.pop("stable_rows", False)
        ref = tracking_ref.Tracker(5, **reference)
        conditions, perms, rescored, sources, joined, dropped = [], [], [], 0, 0, 0
        for t in range(self.FRAMES):
            use_source = ref.begin()
            sources += use_source
            tracks = 0 if ref.tracks is None else len(ref.tracks)
            conditions.append(ref.conditions(self.source[t] if use_source else None))
            joined += (len(conditions[-1]) - tracks) if use_source and tracks else 0
            perms.append(None if ref.row_of is None else list(ref.row_of))
            rescored.append(ref.rescore)
            ref.end(rows[t], 320, 240)
            dropped += 0 if ref.tracks is None else len(ref.row_of) - len(ref.tracks)
        # The same conditions, given per frame to a plain CTD run: its rows in condition order.
        path = os.path.join(self.dest, sub + ".json")
        with open(path, "w") as f:
            json.dump([c.tolist() for c in conditions], f)  # NaN: keypoints not passed on
        plain = read_rows(self.analyze(sub + "_plain", "--conditions", path, "-b", "1"))
        plain = plain.to_numpy().astype(np.float32).reshape(self.FRAMES, 3, 5, 3)
        moved = 0
        for t in range(self.FRAMES):
            ref.row_of = perms[t]
            want = ref.permute(plain[t], stable=stable)
            moved += perms[t] is not None and perms[t] != sorted(perms[t])
            np.testing.assert_array_equal(rows[t][..., :2], want[..., :2], err_msg=f"{sub}: frame {t} keypoints")
            if rescored[t]:
                np.testing.assert_array_equal(rows[t][..., 2], want[..., 2], err_msg=f"{sub}: frame {t} scores")
                continue
            # Tracked frames keep the network's scores; the plain run rescored the same poses
            # (BUCTD): mean condition score x mean of the keypoint scores >= 0.2.
            for i, pose in enumerate(rows[t]):
                if np.all(pose == -1):
                    np.testing.assert_array_equal(want[i], -1)
                    continue
                # Output row i holds plain row perms[i] (DeepLabCut's order; stable: the inverse),
                # and plain rows follow the conditions CTD keeps (a score >= 0.05).
                plain_row = perms[t].index(i) if stable else perms[t][i]
                kept = [c for c in conditions[t] if np.nanmax(np.append(c[:, 2], -1)) >= 0.05]
                c = kept[plain_row]
                s = pose[:, 2]
                valid = s >= 0.2
                expected = np.float32(np.mean(c[:, 2])) * (s[valid].sum() / max(valid.sum(), 1))
                np.testing.assert_allclose(want[i, :, 2], expected, rtol=1e-5, atol=1e-7,
                                           err_msg=f"{sub}: frame {t} pose {i} rescoring")
        return {"source_runs": sources, "tracked_frames": rescored.count(False), "moved_rows": moved,
                "joined": joined, "dropped": dropped,
                "kept": [len(c) for c in conditions]}

    def test_default_settings_follow_deeplabcuts_rules(self):
        stats = self.replay("default", "threshold_nms=0.9")
        self.assertEqual(stats["source_runs"] + stats["tracked_frames"], self.FRAMES)
        self.assertGreater(stats["tracked_frames"], 0, stats)

    def test_batch_sizes_agree(self):
        # A frame's crops batch together (up to -b); tracking serializes frames, not crops.
        one = read_rows(self.analyze("b1", "--conditions-model", self.bu, "--ctd-tracking", "-b", "1")).to_numpy()
        three = read_rows(self.analyze("b3", "--conditions-model", self.bu, "--ctd-tracking", "-b", "3")).to_numpy()
        one, three = one.reshape(self.FRAMES, 3, 5, 3), three.reshape(self.FRAMES, 3, 5, 3)
        np.testing.assert_allclose(three[..., :2], one[..., :2], atol=1e-3, rtol=0)
        # Scores: 1e-4 relative (the x1000 logits scale the ~1e-8 differences of other summation orders).
        np.testing.assert_allclose(three[..., 2], one[..., 2], atol=0, rtol=1e-4)

    def test_bottom_up_reruns_merges_and_nms(self):
        # The source every 3 frames, and after lost tracks every 2; a low NMS threshold makes
        # tracks drop (rows permuted as DeepLabCut does) and the source's poses join again.
        settings = dict(bu_min_frequency=3, bu_max_frequency=2, threshold_nms=0.2)
        stats = self.replay("busy", ",".join(f"{k}={v}" for k, v in settings.items()), **settings)
        self.assertGreater(stats["joined"], 0, stats)
        self.assertGreater(stats["dropped"], 0, stats)
        self.assertGreater(stats["moved_rows"], 0, stats)

    def test_conditions_threshold_and_stable_rows(self):
        settings = dict(threshold_ctd=0.2, threshold_nms=0.1, bu_min_frequency=2, threshold_bu_add=0.9,
                        stable_rows=True)
        stats = self.replay("stable", ",".join(f"{k}={v}" for k, v in settings.items()), **settings)
        self.assertGreater(stats["moved_rows"], 0, stats)

    def test_conditions_from_prediction_pickles(self):
        # The bottom-up run's _assemblies.pickle (what DeepLabCut's CondFromFile reads) and
        # _full.pickle give the conditions its rows give (kept by the same rule).
        path = os.path.join(self.dest, "source.json")
        with open(path, "w") as f:
            json.dump([c.tolist() for c in self.source], f)
        want = read_rows(self.analyze("pickle_json", "--conditions", path, "-b", "3")).to_numpy()
        self.assertGreater(int((want != -1).sum()), 0)
        for kind in ("_assemblies.pickle", "_full.pickle"):
            pickle_path = glob.glob(os.path.join(self.dest, "bu", "*" + kind))[0]
            got = read_rows(self.analyze("pickle" + kind, "--conditions", pickle_path, "-b", "3")).to_numpy()
            np.testing.assert_array_equal(got, want, err_msg=kind)
        # Tracking takes them as its source too.
        pickle_path = glob.glob(os.path.join(self.dest, "bu", "*_assemblies.pickle"))[0]
        tracked = read_rows(self.analyze("pickle_tracked", "--conditions", pickle_path, "--ctd-tracking", "-b", "1"))
        by_model = read_rows(self.analyze("model_tracked", "--conditions-model", self.bu, "--ctd-tracking", "-b", "1"))
        np.testing.assert_array_equal(tracked.to_numpy(), by_model.to_numpy())

    def test_bad_pickle_is_a_clear_error(self):
        path = os.path.join(self.dest, "bad_assemblies.pickle")
        with open(path, "wb") as f:
            pickle.dump({0: [np.zeros((4, 4))]}, f)  # 4 keypoints, the model has 5
        r = run("analyze", self.model, VIDEO, "--frames", "0:2", "--dest", self.dest, "-q", "--conditions", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stderr)
        self.assertIn("5 bodyparts", r.stderr)

    def test_bad_settings_and_models_are_clear_errors(self):
        r = run("analyze", self.model, VIDEO, "--frames", "0:2", "--dest", self.dest, "-q", "--conditions-model",
                self.bu, "--ctd-tracking-config", "threshold_nms=high")
        self.assertEqual(r.returncode, 2)
        self.assertIn("threshold_nms=high", r.stderr)
        r = run("analyze", self.model, VIDEO, "--frames", "0:2", "--dest", self.dest, "-q", "--conditions-model",
                self.bu, "--ctd-tracking-config", "bu_every=3")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown key", r.stderr)
        r = run("analyze", self.bu, VIDEO, "--frames", "0:2", "--dest", self.dest, "-q", "--ctd-tracking")
        self.assertEqual(r.returncode, 2)
        self.assertIn("CTD models", r.stderr)


if __name__ == "__main__":
    unittest.main()
