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
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOLDEN = os.environ["POSEBATCH_GOLDEN"]
VIDEO = os.path.join(FIX, "videos", "index_h264.mp4")  # 75 frames, 320x240


def run(*args):
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


if __name__ == "__main__":
    unittest.main()
