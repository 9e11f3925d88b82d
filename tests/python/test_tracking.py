"""Multi-animal tracking (issue 27) on DeepLabCut's golden tracking cases (../shared/golden/tracking:
the inputs DeepLabCut's analyze_videos left behind and what DeepLabCut 3.0.1's
convert_detections2tracklets and stitch_tracklets made of them).

`posebatch tracklets` gives DeepLabCut's tracklet pickles: the same keys in the same order (tracker
ids as numpy.int64), the same frames, the same arrays bit for bit (NaN where NaN), the same pandas
header; for every tracker (ellipse, box, skeleton), identity_only, unique bodyparts.
`posebatch stitch` and `posebatch track` give DeepLabCut's tracked .h5 exactly (key, columns,
index, float64 values, NaN where NaN) and its .csv byte for byte, on every golden stitching case
(the min-cost flow, the identity weights, unique bodyparts, the infeasible n_tracks=2 fallback).
Run by ctest (cli_tracking) with POSEBATCH_BIN and POSEBATCH_GOLDEN set; Debian's /usr/bin/python3
with pandas.
"""
import glob
import os
import pickle
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd
import yaml

BIN = os.environ["POSEBATCH_BIN"]
CASES = os.path.join(os.environ["POSEBATCH_GOLDEN"], "tracking")
SUFFIX = {"ellipse": "_el", "box": "_bx", "skeleton": "_sk"}


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def case_files(case):
    full = glob.glob(os.path.join(CASES, case, "*_full.pickle"))[0]
    prefix = full[: -len("_full.pickle")]
    (config,) = glob.glob(os.path.join(CASES, case, "project", "dlc-models-pytorch", "iteration-0", "*", "test",
                                       "inference_cfg.yaml"))
    return full, prefix, config


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


class GoldenTracklets(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def assert_same_tracklets(self, ours, theirs):
        self.assertEqual([(type(k), k) for k in ours], [(type(k), k) for k in theirs], "keys and their order")
        self.assertTrue(ours["header"].equals(theirs["header"]))
        self.assertEqual(ours["header"].names, theirs["header"].names)
        for key in theirs:
            if key == "header":
                continue
            self.assertEqual(list(ours[key]), list(theirs[key]), f"tracklet {key}: frames")
            for frame, want in theirs[key].items():
                got = ours[key][frame]
                self.assertEqual((got.dtype, got.shape), (want.dtype, want.shape), f"tracklet {key} {frame}")
                np.testing.assert_array_equal(got, want, err_msg=f"tracklet {key} {frame}")

    def check(self, case, method, *extra, golden_dir=None):
        full, prefix, config = case_files(case)
        dest = os.path.join(self.tmp.name, case + method + "".join(extra))
        r = run("tracklets", full, "--inference-config", config, "--track-method", method, "-d", dest, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        name = os.path.basename(prefix) + SUFFIX[method] + ".pickle"
        self.assertEqual(r.stdout.strip(), os.path.join(dest, name))
        want = os.path.join(golden_dir or os.path.dirname(prefix), name)
        self.assert_same_tracklets(load(os.path.join(dest, name)), load(want))
        return dest

    def test_three_mice_every_tracker(self):
        for method in ("ellipse", "box", "skeleton"):
            with self.subTest(method=method):
                self.check("three_mice", method)

    def test_identity_head(self):
        for method in ("ellipse", "box", "skeleton"):
            with self.subTest(method=method):
                self.check("two_mice_identity", method)
        self.check("two_mice_identity", "ellipse", "--identity-only",
                   golden_dir=os.path.join(CASES, "two_mice_identity", "identity_only"))

    def test_unique_bodyparts(self):
        for method in ("ellipse", "box"):
            with self.subTest(method=method):
                self.check("four_mice_unique", method)
        # DeepLabCut's skeleton tracker fails on such projects (no _sk.pickle): refused by name.
        full, _, config = case_files("four_mice_unique")
        dest = os.path.join(self.tmp.name, "skeleton")
        r = run("tracklets", full, "--inference-config", config, "--track-method", "skeleton", "-d", dest)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unique bodyparts", r.stderr)
        self.assertFalse(os.path.exists(dest) and os.listdir(dest))

    def test_one_individual_keeps_the_first_assembly(self):
        """topktoretain 1 (one individual): no tracker; each frame's first assembly, keypoints
        below pcutoff entirely NaN, under int frame keys (tracking.md §2.7)."""
        full, prefix, config = case_files("three_mice")
        one = os.path.join(self.tmp.name, "inference_cfg.yaml")
        with open(config) as f:
            text = f.read()
        with open(one, "w") as f:
            f.write(text.replace("topktoretain: 3", "topktoretain: 1"))
        r = run("tracklets", full, "--inference-config", one, "-d", self.tmp.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = load(r.stdout.strip())
        self.assertEqual(list(ours), ["header", 0])
        assemblies = load(prefix + "_assemblies.pickle")
        want = {}
        for frame in range(400):
            rows = assemblies.get(frame)
            if rows is None or len(rows) == 0:
                continue
            first = np.array(rows[0], dtype=np.float64)
            first[first[:, 2] < 0.1] = np.nan
            want[frame] = first
        self.assertEqual(list(ours[0]), list(want))
        for frame, row in want.items():
            np.testing.assert_array_equal(ours[0][frame], row)

    def test_existing_output_is_kept_and_bad_input_is_named(self):
        dest = self.check("three_mice", "ellipse")
        full, prefix, config = case_files("three_mice")
        out = os.path.join(dest, os.path.basename(prefix) + "_el.pickle")
        with open(out, "wb") as f:
            f.write(b"mine")
        r = run("tracklets", full, "--inference-config", config, "-d", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("exists, kept", r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"mine")
        # The assemblies missing: the error names the file; nothing is written.
        lone = os.path.join(self.tmp.name, "lone")
        os.mkdir(lone)
        shutil.copy(prefix + "_meta.pickle", lone)
        meta = os.path.join(lone, os.path.basename(prefix) + "_meta.pickle")
        r = run("tracklets", meta, "--inference-config", config)
        self.assertEqual(r.returncode, 1)
        self.assertIn("_assemblies.pickle", r.stderr)
        self.assertEqual(os.listdir(lone), [os.path.basename(meta)])
        # A corrupt assemblies file is named too.
        with open(os.path.join(lone, os.path.basename(prefix) + "_assemblies.pickle"), "wb") as f:
            f.write(b"\x80\x05garbage")
        r = run("tracklets", meta, "--inference-config", config)
        self.assertEqual(r.returncode, 1)
        self.assertIn("_assemblies.pickle", r.stderr)
        r = run("tracklets", os.path.join(lone, "video.h5"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("_full.pickle", r.stderr)


class GoldenStitching(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def assert_same_tracks(self, ours, theirs):
        got = pd.read_hdf(ours, "tracks")
        want = pd.read_hdf(theirs, "tracks")
        self.assertEqual(list(got.columns.names), list(want.columns.names))
        self.assertTrue(got.columns.equals(want.columns), "columns")
        self.assertTrue(got.index.equals(want.index), f"index {got.index} vs {want.index}")
        self.assertEqual(set(got.dtypes), {np.dtype("float64")})
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())

    def stitch(self, tracklets, *extra):
        dest = os.path.join(self.tmp.name, "out")
        r = run("stitch", tracklets, "-d", dest, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = os.path.join(dest, os.path.basename(tracklets)[: -len(".pickle")] + ".h5")
        self.assertEqual(r.stdout.strip(), out)
        return out

    def check(self, case, suffix, folder=None, *extra):
        _, prefix, _ = case_files(case)
        golden = os.path.join(CASES, case, folder) if folder else os.path.dirname(prefix)
        name = os.path.basename(prefix) + suffix
        source = os.path.join(golden, name + ".pickle")
        if not os.path.exists(source):  # n_tracks2 stitches the main folder's tracklets
            source = prefix + suffix + ".pickle"
        with_csv = os.path.exists(os.path.join(golden, name + ".csv"))
        out = self.stitch(source, *extra, *(["--save-as-csv"] if with_csv else []))
        self.assert_same_tracks(out, os.path.join(golden, name + ".h5"))
        if with_csv:
            with open(out[: -len(".h5")] + ".csv", "rb") as f, open(os.path.join(golden, name + ".csv"), "rb") as g:
                self.assertEqual(f.read(), g.read(), "csv bytes")
        else:
            self.assertFalse(os.path.exists(out[: -len(".h5")] + ".csv"))

    def test_three_mice(self):
        for suffix in ("_el", "_bx"):
            with self.subTest(suffix=suffix):
                self.check("three_mice", suffix)

    def test_fewer_tracks_than_animals_takes_the_fallback(self):
        self.check("three_mice", "_el", "n_tracks2", "--n-tracks", "2")

    def test_identity_head(self):
        for suffix in ("_el", "_bx"):
            with self.subTest(suffix=suffix):
                self.check("two_mice_identity", suffix)
        # Its folder has no _meta.pickle: the names come from the project, as DeepLabCut takes them.
        with open(os.path.join(CASES, "two_mice_identity", "project", "config.yaml")) as f:
            names = yaml.safe_load(f)["individuals"]
        self.check("two_mice_identity", "_el", "identity_only", "--animal-names", ",".join(names))

    def test_unique_bodyparts(self):
        for suffix in ("_el", "_bx"):
            with self.subTest(suffix=suffix):
                self.check("four_mice_unique", suffix)

    def test_track_from_the_predictions(self):
        """`posebatch track`: the tracklets, then the tracks, beside each other in --dest."""
        full, prefix, config = case_files("four_mice_unique")
        dest = os.path.join(self.tmp.name, "track")
        r = run("track", full, "--inference-config", config, "--track-method", "box", "-d", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        name = os.path.basename(prefix) + "_bx"
        self.assertEqual(r.stdout.strip(), os.path.join(dest, name + ".h5"))
        self.assertEqual(sorted(os.listdir(dest)), [name + ".h5", name + ".pickle"])
        self.assert_same_tracks(os.path.join(dest, name + ".h5"), prefix + "_bx.h5")

    def test_names_and_errors(self):
        _, prefix, _ = case_files("three_mice")
        out = self.stitch(prefix + "_el.pickle", "--animal-names", "a,b,c")
        df = pd.read_hdf(out, "tracks")
        self.assertEqual(list(df.columns.get_level_values("individuals").unique()), ["a", "b", "c"])
        want = pd.read_hdf(prefix + "_el.h5", "tracks")
        np.testing.assert_array_equal(df.to_numpy(), want.to_numpy())
        # More names than tracks, a track count DeepLabCut cannot reach, a corrupt pickle: each is
        # named, and no tracked file is left behind.
        dest = os.path.join(self.tmp.name, "bad")
        for extra in (["--n-tracks", "3", "--animal-names", "a,b"], ["--n-tracks", "40"]):
            r = run("stitch", prefix + "_el.pickle", "-d", dest, *extra)
            self.assertEqual(r.returncode, 1, (extra, r.stdout))
            self.assertIn("error:", r.stderr)
            self.assertFalse(os.path.exists(dest) and os.listdir(dest), extra)
        os.makedirs(dest, exist_ok=True)
        corrupt = os.path.join(dest, "video_el.pickle")
        with open(corrupt, "wb") as f:
            f.write(b"\x80\x05garbage")
        r = run("stitch", corrupt)
        self.assertEqual(r.returncode, 1)
        self.assertIn(corrupt, r.stderr)
        self.assertEqual(os.listdir(dest), ["video_el.pickle"])


if __name__ == "__main__":
    unittest.main()
