"""Multi-animal analysis end to end: the CLI runs a PAF model, assembles animals, and writes the
.h5/.csv with the individuals level, _full.pickle and _assemblies.pickle as DeepLabCut does.

The model (fixtures: models/synth_paf) returns the golden r50_paf_multi synthetic head outputs,
whose assembly DeepLabCut 3.0.1 computed (synthN_pred_poses.npy): so the rows must be
DeepLabCut's own animals, in its order, after real decoding, batching and postprocess workers.
"""
import glob
import json
import os
import pickle
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOLDEN = os.environ["POSEBATCH_GOLDEN"]
MODEL = os.path.join(FIX, "models", "synth_paf")
VIDEO = os.path.join(FIX, "videos", "dark_bright.mp4")
INDIVIDUALS = ["mus1", "mus2", "mus3"]
BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]
# The unique bodypart's one peak per frame kind (see make_fixtures.SynthPafOutputs).
UNIQUE = {0: [60.0, 44.0, 0.75], 1: [244.0, 164.0, 0.5]}


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def expected_animals(kind):
    """DeepLabCut's assembly for a frame kind, padded to the individuals with -1."""
    poses = np.load(os.path.join(GOLDEN, "r50_paf_multi", f"synth{kind}_pred_poses.npy"))[..., :3]
    out = -np.ones((len(INDIVIDUALS), len(BODYPARTS), 3), np.float32)
    out[: len(poses)] = poses[: len(INDIVIDUALS)]
    return out


def dlc_assemblies(full):
    """DeepLabCut's _generate_assemblies_file, restated, on a loaded _full.pickle."""
    nb = len(BODYPARTS)
    width = full["metadata"]["key_str_width"]
    out = {"single": {}}
    for i in range(full["metadata"]["nframes"]):
        p = full["frame" + str(i).zfill(width)]
        preds = np.concatenate([np.stack(p["coordinates"][0][:nb]), np.stack(p["confidence"][:nb])], axis=-1)
        ids = -np.ones((*preds.shape[:2], 1))
        preds = np.concatenate([preds, ids], axis=-1).transpose((1, 0, 2))
        out[i] = preds[~np.all(preds < 0, axis=(1, 2))]
        u = np.concatenate([np.stack(p["coordinates"][0][nb:]), np.stack(p["confidence"][nb:])], axis=-1)
        out["single"][i] = u.transpose((1, 0, 2))[0]
    return out


class PafVideo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(MODEL, "kinds.json")) as f:
            cls.kinds = json.load(f)

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dest = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def analyze(self, dest, *extra):
        """The detections only: five frames are too few to stitch (PafTracking tracks)."""
        r = run("analyze", MODEL, VIDEO, "--dest", dest, "-q", "--no-track", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        stem = os.path.join(dest, "dark_brightDLC_Resnet50_synth_paf")
        return stem

    def check_rows(self, df):
        self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
        cols = list(df.columns)
        self.assertEqual(cols[0], ("DLC_Resnet50_synth_paf", "mus1", "snout", "x"))
        self.assertEqual(cols[-1], ("DLC_Resnet50_synth_paf", "single", "cage", "likelihood"))
        self.assertEqual(len(cols), (len(INDIVIDUALS) * len(BODYPARTS) + 1) * 3)
        self.assertEqual(len(df), len(self.kinds))
        for i, kind in enumerate(self.kinds):
            row = df.iloc[i].to_numpy()
            animals = row[:-3].reshape(len(INDIVIDUALS), len(BODYPARTS), 3)
            np.testing.assert_allclose(animals, expected_animals(kind), atol=1e-4, rtol=0, err_msg=f"frame {i}")
            np.testing.assert_allclose(row[-3:], UNIQUE[kind], atol=1e-6, err_msg=f"frame {i} unique")

    def test_h5_csv_and_pickles_match_deeplabcut(self):
        stem = self.analyze(self.dest, "-b", "2", "--csv", "--post-workers", "2")
        df = pd.read_hdf(stem + ".h5")
        self.check_rows(df)
        csv = pd.read_csv(stem + ".csv", header=[0, 1, 2, 3], index_col=0)
        np.testing.assert_allclose(csv.to_numpy(), df.to_numpy(), atol=1e-4)
        with open(stem + "_full.pickle", "rb") as f:
            full = pickle.load(f)
        meta = full["metadata"]
        self.assertEqual(meta["nframes"], len(self.kinds))
        self.assertEqual(meta["all_joints_names"], BODYPARTS + ["cage"])
        self.assertEqual(len(meta["PAFgraph"]), 6)
        for i in range(len(self.kinds)):
            p = full[f"frame{i}"]
            self.assertIsNone(p["costs"])
            coords = np.stack(p["coordinates"][0][: len(BODYPARTS)]).transpose((1, 0, 2))
            scores = np.stack(p["confidence"][: len(BODYPARTS)]).transpose((1, 0, 2))
            np.testing.assert_array_equal(np.concatenate([coords, scores], -1),
                                          df.iloc[i].to_numpy()[:-3].reshape(3, 4, 3))
        with open(stem + "_assemblies.pickle", "rb") as f:
            assemblies = pickle.load(f)
        want = dlc_assemblies(full)
        self.assertEqual(list(assemblies.keys()), list(want.keys()))
        for key in range(len(self.kinds)):
            np.testing.assert_array_equal(assemblies[key], want[key])
            self.assertEqual(assemblies[key].dtype, want[key].dtype)
            np.testing.assert_array_equal(assemblies["single"][key], want["single"][key])
        # Every animal DeepLabCut assembled, in its order.
        for i, kind in enumerate(self.kinds):
            golden = np.load(os.path.join(GOLDEN, "r50_paf_multi", f"synth{kind}_pred_poses.npy"))[:3, :, :3]
            found = golden[~np.all(golden < 0, axis=(1, 2))]
            self.assertGreater(len(found), 1)
            np.testing.assert_allclose(assemblies[i][..., :3], found, atol=1e-4)

    def test_tracklets_from_our_own_analysis(self):
        """posebatch's own _full/_assemblies/_meta pickles feed `posebatch tracklets` (as
        DeepLabCut's do, tests/python/test_tracking.py): every tracklet row is an assembly row of
        its frame with x, y NaN below pcutoff 0.1, the unique bodypart under "single"."""
        stem = self.analyze(self.dest)
        r = run("tracklets", stem + "_full.pickle")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), stem + "_el.pickle")
        self.assertIn("DeepLabCut's defaults", r.stderr)
        with open(stem + "_el.pickle", "rb") as f:
            tracklets = pickle.load(f)
        with open(stem + "_assemblies.pickle", "rb") as f:
            assemblies = pickle.load(f)
        self.assertEqual(list(tracklets)[:2], ["header", "single"])
        self.assertEqual(list(tracklets["header"].get_level_values("bodyparts")[::3]), BODYPARTS + ["cage"])
        self.assertEqual(sorted(tracklets["single"]), sorted(assemblies["single"]))
        rows = 0
        for key, frames in list(tracklets.items())[2:]:
            for name, row in frames.items():
                want = [a.copy() for a in assemblies[int(name[len("frame"):])]]
                for a in want:
                    a[(a[:, :3] < 0).any(axis=1) | (a[:, 2] < 0.1), :2] = np.nan
                self.assertTrue(any(np.array_equal(row, a, equal_nan=True) for a in want), f"{key} {name}")
                rows += 1
        self.assertGreater(rows, 0)

    def test_modes_agree(self):
        """Sequential, async with one and with three postprocess workers: identical files."""
        outs = []
        for sub, extra in [("seq", ["--no-async"]), ("one", ["-b", "1"]), ("three", ["-b", "1", "--post-workers", "3"])]:
            d = os.path.join(self.dest, sub)
            os.mkdir(d)
            outs.append(pd.read_hdf(self.analyze(d, *extra) + ".h5"))
        for o in outs[1:]:
            pd.testing.assert_frame_equal(outs[0], o)

    def test_skips_only_when_side_files_exist(self):
        stem = self.analyze(self.dest)
        os.remove(stem + "_assemblies.pickle")
        r = run("analyze", MODEL, VIDEO, "--dest", self.dest, "-q", "--no-track")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(stem + "_assemblies.pickle"), "a run missing its side files is redone")
        self.assertEqual(sorted(glob.glob(os.path.join(self.dest, "*.part"))), [])


def write_video(path, kinds):
    """A 64x64 H.264 video of dark (0) and bright (1) frames, the synth_paf model's two poses."""
    frames = b"".join(np.full((64, 64, 3), 255 * k, np.uint8).tobytes() for k in kinds)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64",
                    "-r", "30", "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", path], input=frames, check=True)


class PafTracking(unittest.TestCase):
    """analyze tracks multi-animal videos by default (DeepLabCut's auto_track): 12 dark frames,
    then 12 bright ones, so each animal is still for 12 frames, then jumps; the tracklets of
    both halves are stitched into three tracks."""

    STEM = "stillDLC_Resnet50_synth_paf"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.video = os.path.join(self.tmp.name, "still.mp4")
        write_video(self.video, [0] * 12 + [1] * 12)

    def tearDown(self):
        self.tmp.cleanup()

    def analyze(self, dest, *extra):
        return run("analyze", MODEL, self.video, "--dest", dest, *extra)

    def test_tracked_file_beside_the_detections(self):
        dest = os.path.join(self.tmp.name, "out")
        r = self.analyze(dest, "--csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        stem = os.path.join(dest, self.STEM)
        self.assertEqual(sorted(os.listdir(dest)),
                         sorted(self.STEM + s for s in (".h5", ".csv", "_full.pickle", "_assemblies.pickle",
                                                         "_meta.pickle", "_el.pickle", "_el.h5", "_el.csv")))
        tracks = pd.read_hdf(stem + "_el.h5", "tracks")
        self.assertEqual(list(tracks.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
        self.assertEqual(list(tracks.columns.get_level_values("individuals").unique()), INDIVIDUALS + ["single"])
        self.assertEqual(list(tracks.index), list(range(24)))
        self.assertEqual(set(tracks.dtypes), {np.dtype("float64")})
        csv = pd.read_csv(stem + "_el.csv", header=[0, 1, 2, 3], index_col=0, float_precision="round_trip")
        np.testing.assert_array_equal(csv.to_numpy(), tracks.to_numpy())
        # Each track's row of a frame is one of that frame's assemblies (x, y NaN below pcutoff).
        with open(stem + "_assemblies.pickle", "rb") as f:
            assemblies = pickle.load(f)
        tracked = 0
        for frame in range(24):
            row = tracks.loc[frame].to_numpy()
            for ind in range(len(INDIVIDUALS)):
                got = row[ind * 12:(ind + 1) * 12].reshape(4, 3)
                if np.isnan(got).all():
                    continue
                want = [a[:, :3].copy() for a in assemblies[frame]]
                for a in want:
                    a[a[:, 2] < 0.1, :2] = np.nan
                self.assertTrue(any(np.array_equal(got, a, equal_nan=True) for a in want), (frame, ind))
                tracked += 1
            np.testing.assert_allclose(row[-3:], UNIQUE[0 if frame < 12 else 1], atol=1e-6)
        self.assertGreaterEqual(tracked, 2 * 24)
        # `posebatch track` on the same files (elsewhere) writes the same tracks.
        again = os.path.join(self.tmp.name, "again")
        os.mkdir(again)
        for s in ("_full.pickle", "_assemblies.pickle", "_meta.pickle"):
            shutil.copy(stem + s, again)
        r = run("track", os.path.join(again, self.STEM + "_full.pickle"), "--save-as-csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        pd.testing.assert_frame_equal(pd.read_hdf(os.path.join(again, self.STEM + "_el.h5"), "tracks"), tracks)
        with open(os.path.join(again, self.STEM + "_el.csv"), "rb") as f, open(stem + "_el.csv", "rb") as g:
            self.assertEqual(f.read(), g.read())
        # label and plot read the tracked file (key "tracks", float64), a colour per track.
        labeled = os.path.join(self.tmp.name, "tracked.mp4")
        r = run("label", stem + "_el.h5", self.video, "-o", labeled, "--color-by", "individual")
        self.assertEqual(r.returncode, 0, r.stderr)
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=nb_read_frames", "-of", "csv=p=0", labeled], capture_output=True, text=True)
        self.assertEqual(probe.stdout.strip(), "24")
        plots = os.path.join(self.tmp.name, "plots")
        r = run("plot", stem + "_el.h5", "-o", plots, "--no-svg")
        self.assertEqual(r.returncode, 0, r.stderr)
        for ind in INDIVIDUALS:
            self.assertIn(ind + "_trajectory.png", os.listdir(plots))

    def test_no_track_then_a_skipped_video_is_tracked(self):
        dest = os.path.join(self.tmp.name, "out")
        r = self.analyze(dest, "--no-track")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([n for n in os.listdir(dest) if "_el" in n or "_bx" in n])
        h5 = os.path.join(dest, self.STEM + ".h5")
        before = os.stat(h5).st_mtime_ns
        r = self.analyze(dest, "--track-method", "box")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("already analysed", r.stderr)
        self.assertEqual(os.stat(h5).st_mtime_ns, before, "the detections are not redone")
        self.assertTrue(os.path.exists(os.path.join(dest, self.STEM + "_bx.h5")))
        self.assertTrue(os.path.exists(os.path.join(dest, self.STEM + "_bx.pickle")))
        tracked = os.stat(os.path.join(dest, self.STEM + "_bx.h5")).st_mtime_ns
        r = self.analyze(dest, "--track-method", "box")  # all done: nothing is written
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(os.path.join(dest, self.STEM + "_bx.h5")).st_mtime_ns, tracked)

    def test_too_short_to_stitch_fails_and_keeps_the_detections(self):
        """DeepLabCut raises "Tracklets are empty." when no tracklet spans min_length frames;
        posebatch fails the video with that reason and keeps what inference wrote."""
        dest = os.path.join(self.tmp.name, "out")
        r = self.analyze(dest, "--min-length", "25")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("tracking failed (the detections are kept)", r.stderr)
        self.assertIn("Tracklets are empty", r.stderr)
        names = os.listdir(dest)
        for s in (".h5", "_full.pickle", "_assemblies.pickle", "_meta.pickle", "_el.pickle"):
            self.assertIn(self.STEM + s, names)
        self.assertFalse([n for n in names if n.endswith("_el.h5") or ".part" in n or ".tmp" in n], names)
        # The next run tracks what is on disk (the tracklets kept) with settings that fit.
        r = self.analyze(dest, "--min-length", "12")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.STEM + "_el.h5", os.listdir(dest))


    def test_single_animal_models_have_nothing_to_track(self):
        dest = os.path.join(self.tmp.name, "single")
        r = run("analyze", os.path.join(FIX, "models", "good"), os.path.join(FIX, "videos", "index_h264.mp4"),
                "--dest", dest, "--frames", "0:4", "--track-method", "box")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("tracking options are ignored: a single-animal model", r.stderr)
        self.assertFalse([n for n in os.listdir(dest) if "_bx" in n or "_el" in n])


class PafIdentity(unittest.TestCase):
    """with_identity: the identity head's maps decide which row each assembled animal takes
    (DeepLabCut's PredictKeypointIdentities + AssignIndividualIdentities). The fixture draws
    identity i around a known animal of DeepLabCut's assembly (owners.json)."""

    def test_rows_follow_identity(self):
        model = os.path.join(FIX, "models", "synth_paf_id")
        with open(os.path.join(model, "owners.json")) as f:
            owners = {int(k): v for k, v in json.load(f).items()}
        with open(os.path.join(MODEL, "kinds.json")) as f:
            kinds = json.load(f)
        with tempfile.TemporaryDirectory() as d:
            r = run("analyze", model, VIDEO, "--dest", d, "-q", "-b", "2", "--post-workers", "2", "--no-track")
            self.assertEqual(r.returncode, 0, r.stderr)
            df = pd.read_hdf(glob.glob(os.path.join(d, "*.h5"))[0])
        for i, kind in enumerate(kinds):
            poses = np.load(os.path.join(GOLDEN, "r50_paf_multi", f"synth{kind}_pred_poses.npy"))[..., :3]
            want = -np.ones((3, 4, 3), np.float32)
            for row, animal in enumerate(owners[kind]):
                if animal is not None:
                    want[row] = poses[animal]
            got = df.iloc[i].to_numpy().reshape(3, 4, 3)
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=f"frame {i}")


class PafImages(unittest.TestCase):
    def test_image_folder(self):
        with tempfile.TemporaryDirectory() as d:
            for name, value in [("a_dark.png", 0), ("b_bright.png", 255)]:
                raw = os.path.join(d, "x.rgb")
                np.full((48, 64, 3), value, np.uint8).tofile(raw)
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                                "64x48", "-i", raw, os.path.join(d, name)], check=True)
                os.remove(raw)
            r = run("analyze", MODEL, os.path.join(d, "a_dark.png"), os.path.join(d, "b_bright.png"), "-q")
            self.assertEqual(r.returncode, 0, r.stderr)
            df = pd.read_hdf(os.path.join(d, "image_predictions_DLC_Resnet50_synth_paf.h5"))
            self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
            for i, kind in enumerate([0, 1]):
                row = df.iloc[i].to_numpy()
                np.testing.assert_allclose(row[:-3].reshape(3, 4, 3), expected_animals(kind), atol=1e-4, rtol=0)


class NativePafExports(unittest.TestCase):
    """DeepLabCut's PAF exports (ResNet-50 + DLCRNetHead; DLCRNet ms5), native, on their golden
    frames: random weights assemble nobody, and DeepLabCut's final output is -1 everywhere."""

    def test_r50_paf(self):
        self.check_case("r50_paf_multi")

    def test_dlcrnet_ms5(self):
        self.check_case("dlcrnet_ms5_multi")

    def check_case(self, case):
        with tempfile.TemporaryDirectory() as d:
            frames = [os.path.join(GOLDEN, case, f"frame{i}.png") for i in (0, 1)]
            r = run("analyze", os.path.join(FIX, "dlc", case + ".pt"), *frames, "--dest", d, "-q", "-b", "2")
            self.assertEqual(r.returncode, 0, r.stderr)
            df = pd.read_hdf(glob.glob(os.path.join(d, "image_predictions_*.h5"))[0])
            for i in (0, 1):
                want = np.load(os.path.join(GOLDEN, case, f"frame{i}_final_bodyparts.npy"))[..., :3]
                np.testing.assert_allclose(df.iloc[i].to_numpy().reshape(want.shape), want, atol=1e-3)



class NativeDekrExport(unittest.TestCase):
    """DeepLabCut's dekr_w18_multi export (HRNet-W18 + DEKR heads, native) on its golden frames,
    through the CLI: DeepLabCut's final keypoints within 1e-3 px, scores within 1e-5."""

    def test_golden_frames(self):
        with tempfile.TemporaryDirectory() as d:
            frames = [os.path.join(GOLDEN, "dekr_w18_multi", f"frame{i}.png") for i in (0, 1)]
            r = run("analyze", os.path.join(FIX, "dlc", "dekr_w18_multi.pt"), *frames, "--dest", d, "-q", "-b", "2",
                    "--post-workers", "2")
            self.assertEqual(r.returncode, 0, r.stderr)
            df = pd.read_hdf(glob.glob(os.path.join(d, "image_predictions_*.h5"))[0])
            self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
            for i in (0, 1):
                want = np.load(os.path.join(GOLDEN, "dekr_w18_multi", f"frame{i}_final_bodyparts.npy"))
                got = df.iloc[i].to_numpy().reshape(want.shape)
                np.testing.assert_allclose(got[..., :2], want[..., :2], atol=1e-3, rtol=0)
                np.testing.assert_allclose(got[..., 2], want[..., 2], atol=1e-5, rtol=0)


if __name__ == "__main__":
    unittest.main()
