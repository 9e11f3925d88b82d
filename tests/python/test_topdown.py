"""Top-down analysis end to end: boxes -> crops batched across frames -> pose -> rows in frame
order, with the individuals level, as DeepLabCut writes them.

Parity: DeepLabCut's own final keypoints for the golden top-down cases, computed on fixed boxes
(frameN_bboxes.npy), through the CLI (real PNG decoding, the crop stage, pose batches of crops
from two frames). Consistency: the same video at several batch sizes gives identical files,
and frames without boxes pass through (rows of -1) without stalling the pipeline.
"""
import glob
import json
import os
import pickle
import re
import signal
import subprocess
import tempfile
import time
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOLDEN = os.environ["POSEBATCH_GOLDEN"]
VIDEO = os.path.join(FIX, "videos", "index_h264.mp4")  # 75 frames, 320x240


def run(*args):
    # analyze: the detections only (random weights and a few frames give nothing to stitch;
    # tracking is tested in test_tracking.py and test_multi_animal.py).
    if args and args[0] == "analyze":
        args = (*args, "--no-track")
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=900)


class GoldenParity(unittest.TestCase):
    def check_case(self, case):
        with tempfile.TemporaryDirectory() as d:
            frames = [os.path.join(GOLDEN, case, f"frame{i}.png") for i in (0, 1)]
            boxes = {f: np.load(os.path.join(GOLDEN, case, f"frame{i}_bboxes.npy")).tolist()
                     for i, f in enumerate(frames)}
            with open(os.path.join(d, "boxes.json"), "w") as f:
                json.dump(boxes, f)
            # Batch 3: frame 0's two crops and frame 1's one share a batch.
            r = run("analyze", os.path.join(FIX, "dlc", case + ".pt"), *frames, "--boxes",
                    os.path.join(d, "boxes.json"), "--dest", d, "-q", "-b", "3")
            self.assertEqual(r.returncode, 0, r.stderr)
            df = pd.read_hdf(glob.glob(os.path.join(d, "image_predictions_*.h5"))[0])
            self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
            for i in (0, 1):
                want = np.load(os.path.join(GOLDEN, case, f"frame{i}_final_bodyparts.npy"))
                got = df.iloc[i].to_numpy().reshape(want.shape)
                np.testing.assert_allclose(got[..., :2], want[..., :2], atol=1e-3, rtol=0, err_msg=f"{case} frame {i}")
                np.testing.assert_allclose(got[..., 2], want[..., 2], atol=1e-5, rtol=0, err_msg=f"{case} frame {i}")

    def test_ssdlite_case_pose(self):
        self.check_case("td_ssdlite_r50")

    def test_frcnn_case_pose(self):
        self.check_case("td_frcnn_r50")


class NativeDetector(unittest.TestCase):
    """The export's own detector (native SSDLite) in the pipeline's detector stage gives the same
    rows as the pose stage run on DeepLabCut's detector boxes (frameN_detector_bboxes.npy)."""

    def test_ssdlite_detector_stage_matches_deeplabcut_boxes(self):
        self.check_case("td_ssdlite_r50")

    def test_frcnn_detector_stage_matches_deeplabcut_boxes(self):
        self.check_case("td_frcnn_r50")

    def check_case(self, case):
        with tempfile.TemporaryDirectory() as d:
            frames = [os.path.join(GOLDEN, case, f"frame{i}.png") for i in (0, 1)]
            model = os.path.join(FIX, "dlc", case + ".pt")
            own = os.path.join(d, "own")
            r = run("analyze", model, *frames, "--dest", own, "-q", "-b", "4", "--detector-batch-size", "2")
            self.assertEqual(r.returncode, 0, r.stderr)
            boxes = {f: np.load(os.path.join(GOLDEN, case, f"frame{i}_detector_bboxes.npy")).tolist()
                     for i, f in enumerate(frames)}
            with open(os.path.join(d, "boxes.json"), "w") as f:
                json.dump(boxes, f)
            given = os.path.join(d, "given")
            r = run("analyze", model, *frames, "--boxes", os.path.join(d, "boxes.json"), "--dest", given, "-q")
            self.assertEqual(r.returncode, 0, r.stderr)
            a = pd.read_hdf(glob.glob(os.path.join(own, "*.h5"))[0])
            b = pd.read_hdf(glob.glob(os.path.join(given, "*.h5"))[0])
            self.assertGreater(int((a.to_numpy() != -1).sum()), 0, "the detector found animals")
            np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-3, rtol=0)

    def test_video(self):
        with tempfile.TemporaryDirectory() as d:
            r = run("analyze", os.path.join(FIX, "dlc", "td_ssdlite_r50.pt"), VIDEO, "--frames", "0:6", "--dest", d,
                    "-q", "-b", "4", "--detector-batch-size", "3")
            self.assertEqual(r.returncode, 0, r.stderr)
            df = pd.read_hdf(glob.glob(os.path.join(d, "*.h5"))[0])
            self.assertEqual(len(df), 6)
            self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])


class VideoBatching(unittest.TestCase):
    MODEL = os.path.join(FIX, "dlc", "td_ssdlite_r50.pt")

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dest = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def analyze(self, sub, boxes, *extra):
        d = os.path.join(self.dest, sub)
        os.mkdir(d)
        path = os.path.join(d, "boxes.json")
        with open(path, "w") as f:
            json.dump(boxes, f)
        r = run("analyze", self.MODEL, VIDEO, "--boxes", path, "--dest", d, "-q", "--frames", "0:12", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.full = glob.glob(os.path.join(d, "*_full.pickle"))
        return pd.read_hdf(glob.glob(os.path.join(d, "*.h5"))[0])

    def test_batch_sizes_agree_and_empty_frames_pass_through(self):
        # 0, 1 or 2 boxes per frame, one partly outside the frame.
        boxes = {}
        for i in range(12):
            n = i % 3
            boxes[str(i)] = [[10 + 7 * i, 20, 60, 80], [250, 150 + i, 90, 120]][:n]
        results = [self.analyze(f"b{b}", boxes, "-b", str(b), "--detector-batch-size", "2") for b in (1, 3, 8)]
        for other in results[1:]:
            pd.testing.assert_frame_equal(results[0], other)
        df = results[0]
        self.assertEqual(len(df), 12)
        with open(self.full[0], "rb") as f:
            full = pickle.load(f)
        for i in range(12):  # the boxes kept with each frame, padded to the individuals with -1
            p = full["frame" + str(i).zfill(full["metadata"]["key_str_width"])]
            want = -np.ones((2, 4))
            want[: i % 3] = np.reshape(boxes[str(i)], (-1, 4))
            np.testing.assert_array_equal(p["bboxes"], want)
            np.testing.assert_array_equal(p["bbox_scores"], [1.0] * (i % 3) + [-1.0] * (2 - i % 3))
        values = df.to_numpy().reshape(12, 2, 5, 3)
        for i in range(12):
            n = i % 3
            self.assertTrue(np.all(values[i, n:] == -1), f"frame {i}: individuals without a box are -1")
            if n:
                self.assertTrue(np.all(values[i, :n, :, 2] >= 0), f"frame {i}: scores of found animals")

    def test_sparse_boxes_do_not_stall(self):
        """One crop, then many frames without boxes: the partial pose batch must be flushed."""
        df = self.analyze("sparse", {"0": [[40, 40, 80, 80]]}, "-b", "64")
        self.assertEqual(len(df), 12)
        self.assertTrue(np.all(df.to_numpy()[1:] == -1))
        self.assertTrue(np.all(df.to_numpy()[0, :15] != -1))


class Errors(unittest.TestCase):
    def test_bad_boxes_file_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "boxes.json")
            with open(bad, "w") as f:
                f.write('{"0": [[1, 2, 3]]}')
            r = run("analyze", os.path.join(FIX, "dlc", "td_ssdlite_r50.pt"), VIDEO, "--boxes", bad, "--dest", d)
            self.assertEqual(r.returncode, 2)
            self.assertIn("boxes.json", r.stderr)
            self.assertIn("entry '0'", r.stderr)
            self.assertEqual(os.listdir(d), ["boxes.json"])


def assert_same_tree(test, a, b, where="root"):
    """Pickled values equal: dicts key by key, sequences item by item, arrays exactly."""
    test.assertEqual(type(a), type(b), where)
    if isinstance(a, dict):
        test.assertEqual(list(a.keys()), list(b.keys()), where)
        for k in a:
            assert_same_tree(test, a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        test.assertEqual(len(a), len(b), where)
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(test, x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        test.assertEqual(a, b, where)


class KilledTopDownRun(unittest.TestCase):
    """A top-down run killed mid-video and resumed: the resume journal keeps each frame's boxes
    with its row, so the replayed frames' boxes reach _full.pickle; every output equals an
    uninterrupted run's."""

    FRAMES = 6000

    def test_resumed_run_keeps_every_frames_boxes(self):
        with tempfile.TemporaryDirectory() as tmp:
            video = os.path.join(tmp, "long.mp4")
            subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30",
                            "-frames:v", str(self.FRAMES), "-c:v", "libx264", "-preset", "ultrafast", video],
                           check=True)
            boxes = {str(i): [[10 + i % 50, 20, 60, 80], [200, 100 + i % 30, 90, 120]][: i % 3]
                     for i in range(self.FRAMES)}
            path = os.path.join(tmp, "boxes.json")
            with open(path, "w") as f:
                json.dump(boxes, f)

            def command(dest, *extra):
                return [BIN, "analyze", os.path.join(FIX, "models", "td_tiny"), video, "--boxes", path, "--dest",
                        dest, "--scorer", "S", "-b", "4", "-t", "1", "-q", "--no-track", *extra]

            ref = os.path.join(tmp, "ref")
            r = subprocess.run(command(ref), capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            dest = os.path.join(tmp, "killed")
            journal = os.path.join(dest, "longS.resume")
            p = subprocess.Popen(command(dest), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 120
            # A chunk of 256 rows with their boxes is more than 40 kB.
            while p.poll() is None and time.time() < deadline and \
                    (not os.path.exists(journal) or os.path.getsize(journal) < 80_000):
                time.sleep(0.002)
            self.assertIsNone(p.poll(), "the run finished before it could be killed")
            p.kill()
            p.communicate(timeout=60)
            r = subprocess.run(command(dest, "--resume"), capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            m = re.search(r"resuming from frame (\d+)", r.stderr)
            self.assertIsNotNone(m, r.stderr)
            self.assertGreater(int(m.group(1)), 0)
            # Rows: replayed rows are the killed run's bit for bit; after the resume point, crop
            # batches (which count crops, across frames) form differently than in one run, and
            # oneDNN sums other batch shapes in another order: float rounding.
            got = pd.read_hdf(os.path.join(dest, "longS.h5"))
            want = pd.read_hdf(os.path.join(ref, "longS.h5"))
            self.assertEqual(list(got.columns), list(want.columns))
            np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-4, rtol=0)
            for name in ("longS_full.pickle",):
                with open(os.path.join(dest, name), "rb") as f:
                    got = pickle.load(f)
                with open(os.path.join(ref, name), "rb") as f:
                    want = pickle.load(f)
                self.assertEqual(list(got.keys()), list(want.keys()))
                for key in want:
                    if key == "metadata":
                        assert_same_tree(self, got[key], want[key], key)
                        continue
                    # Every frame's boxes exactly (the replayed ones come from the journal).
                    for field in ("bboxes", "bbox_scores"):
                        np.testing.assert_array_equal(got[key][field], want[key][field], err_msg=f"{key} {field}")
                    for a, b in zip(got[key]["coordinates"][0], want[key]["coordinates"][0]):
                        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0, err_msg=key)
            with open(os.path.join(dest, "longS_full.pickle"), "rb") as f:
                full = pickle.load(f)
            self.assertEqual(full["frame0005"]["bboxes"].shape, (3, 4))  # 2 boxes, padded with -1


if __name__ == "__main__":
    unittest.main()
