"""Labeled videos and plots (issue 15), end to end on real pixels.

The bundled sample (samples/synth: video, model, ground truth) is analysed with
--labeled-video; the labeled mp4 is decoded with the ffmpeg tool and the drawn dots are looked
for at the ground-truth keypoints. Run by ctest (cli_labeled_video) with POSEBATCH_BIN and
POSEBATCH_SOURCE set; Debian's /usr/bin/python3 with numpy, pandas and tables.
"""
import os
import struct
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
SOURCE = os.environ["POSEBATCH_SOURCE"]
SAMPLE = os.path.join(SOURCE, "samples", "synth")
VIDEO = os.path.join(SAMPLE, "video.mp4")
W, H, FRAMES = 320, 240, 240
DOT = 4  # --dotsize of the runs below (radius, pixels)
# matplotlib's rainbow at np.linspace(0, 1, 4), as DeepLabCut colours 4 bodyparts (uint8).
RAINBOW4 = {"snout": (127, 0, 255), "leftear": (42, 220, 220), "rightear": (212, 220, 127), "tailbase": (255, 0, 0)}


def run(*args, timeout=300):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def decode(path, width=W, height=H):
    """Every frame of a video (or an image) as uint8 (n, h, w, 3), by the ffmpeg tool."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def ground_truth():
    gt = pd.read_csv(os.path.join(SAMPLE, "ground_truth.csv"), index_col=0)
    return {bp: gt[[bp + "_x", bp + "_y"]].to_numpy() for bp in RAINBOW4}


def colour_near(frame, x, y, colour, radius=2, tol=60):
    """Whether a pixel within `radius` of (x, y) has `colour` (H.264 moves colours a little)."""
    xi, yi = int(round(x)), int(round(y))
    patch = frame[max(0, yi - radius):yi + radius + 1, max(0, xi - radius):xi + radius + 1].astype(int)
    d = np.abs(patch - np.array(colour)).sum(axis=-1)
    return d.size > 0 and d.min() <= tol


def write_like_deeplabcut(df, path):
    df.to_hdf(path, key="df_with_missing", format="table", mode="w")


class LabeledVideo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        r = run("analyze", os.path.join(SAMPLE, "model"), VIDEO, "--dest", d, "--labeled-video", "--dotsize", str(DOT),
                "-q")
        assert r.returncode == 0, r.stderr
        outputs = r.stdout.split()
        cls.h5 = [o for o in outputs if o.endswith(".h5")][0]
        cls.labeled = [o for o in outputs if o.endswith("_labeled.mp4")][0]
        cls.frames = decode(cls.labeled)
        cls.input = decode(VIDEO)
        cls.df = pd.read_hdf(cls.h5)
        cls.gt = ground_truth()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_named_as_deeplabcut_and_listed(self):
        self.assertEqual(self.labeled, self.h5[:-3] + "_labeled.mp4")
        self.assertFalse(os.path.exists(self.labeled + ".part"))
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "stream=codec_name,r_frame_rate", "-of", "csv=p=0", self.labeled],
                               capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual(probe, "h264,30/1")

    def test_frame_count_and_size_equal_the_inputs(self):
        self.assertEqual(self.frames.shape, (FRAMES, H, W, 3))
        self.assertEqual(self.frames.shape, self.input.shape)

    def test_dot_colour_at_ground_truth_keypoints(self):
        scorer = self.df.columns.get_level_values(0)[0]
        found = total = 0
        missing = []
        for f in range(0, FRAMES, 3):
            for bp, colour in RAINBOW4.items():
                if self.df.loc[f, (scorer, bp, "likelihood")] <= 0.6:
                    continue
                x, y = self.gt[bp][f]
                total += 1
                if colour_near(self.frames[f], x, y, colour):
                    found += 1
                else:
                    missing.append((f, bp))
        self.assertGreater(total, 250)
        self.assertGreaterEqual(found / total, 0.98, missing[:10])
        # The same test on the input video (nothing drawn) finds almost none: it can fail.
        raw = sum(colour_near(self.input[f], *self.gt[bp][f], c) for f in range(0, FRAMES, 3)
                  for bp, c in RAINBOW4.items())
        self.assertLess(raw, 0.05 * total)
        # And the dot is where the keypoint is, not anywhere: 12 px off it, the colour is mostly absent.
        off = sum(colour_near(self.frames[f], self.gt[bp][f][0] + 12, self.gt[bp][f][1] + 12, c, radius=1)
                  for f in range(0, FRAMES, 3) for bp, c in RAINBOW4.items())
        self.assertLess(off, 0.25 * total)

    def test_label_afterwards_gives_the_same_frames(self):
        out = os.path.join(self.tmp.name, "afterwards.mp4")
        r = run("label", self.h5, VIDEO, "-o", out, "--dotsize", str(DOT))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), out)
        again = decode(out)
        self.assertEqual(again.shape, self.frames.shape)
        self.assertEqual(np.abs(again.astype(int) - self.frames).max(), 0)

    def test_points_under_pcutoff_are_not_drawn(self):
        df = self.df.copy()
        scorer = df.columns.get_level_values(0)[0]
        low = list(range(60, 90))
        df.loc[low, (scorer, "snout", "likelihood")] = 0.2
        df.loc[list(range(100, 110)), (scorer, "tailbase", "x")] = np.nan  # NaN: not drawn either
        h5 = os.path.join(self.tmp.name, "edited.h5")
        write_like_deeplabcut(df, h5)
        out = os.path.join(self.tmp.name, "edited_labeled.mp4")
        r = run("label", h5, VIDEO, "-o", out, "--dotsize", str(DOT), "--pcutoff", "0.5")
        self.assertEqual(r.returncode, 0, r.stderr)
        frames = decode(out)
        self.assertEqual(len(frames), FRAMES)
        snout = RAINBOW4["snout"]
        hidden = [f for f in low if colour_near(frames[f], *self.gt["snout"][f], snout, radius=DOT + 1)]
        self.assertEqual(hidden, [])
        shown = [f for f in range(30, 60) if colour_near(frames[f], *self.gt["snout"][f], snout)]
        self.assertGreater(len(shown), 25)
        tail = [f for f in range(100, 110) if colour_near(frames[f], *self.gt["tailbase"][f], RAINBOW4["tailbase"],
                                                           radius=DOT + 1)]
        self.assertEqual(tail, [])
        # Elsewhere the edited file's video equals the pass's.
        self.assertEqual(np.abs(frames[:50].astype(int) - self.frames[:50]).max(), 0)

    def test_deeplabcut_multi_animal_file(self):
        """A 4-level file (scorer/individuals/bodyparts/coords): coloured per individual."""
        scorer = self.df.columns.get_level_values(0)[0]
        cols = pd.MultiIndex.from_tuples([(scorer, ind, bp, c) for ind in ("mouse1", "mouse2")
                                          for bp in RAINBOW4 for c in ("x", "y", "likelihood")],
                                         names=["scorer", "individuals", "bodyparts", "coords"])
        values = np.concatenate([self.df.to_numpy(), self.df.to_numpy()], axis=1).astype(np.float32)
        values[:, 12::3] += 60  # mouse2: 60 px to the right (x columns of its 4 bodyparts)
        df = pd.DataFrame(values, index=self.df.index, columns=cols)
        h5 = os.path.join(self.tmp.name, "multi.h5")
        write_like_deeplabcut(df, h5)
        r = run("label", h5, VIDEO, "--dotsize", str(DOT))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.strip()
        self.assertEqual(out, h5[:-3] + "_labeled.mp4")
        frames = decode(out)
        purple, red = (127, 0, 255), (255, 0, 0)  # rainbow at 0 and 1: mouse1, mouse2
        f = 40
        for bp in RAINBOW4:
            if self.df.loc[f, (scorer, bp, "likelihood")] > 0.6:
                x, y = self.gt[bp][f]
                self.assertTrue(colour_near(frames[f], x, y, purple), bp)
                if x + 60 < W - 3:
                    self.assertTrue(colour_near(frames[f], x + 60, y, red), bp)

    def test_top_down_pass_draws_the_detector_boxes(self):
        """--draw-boxes in a top-down pass: each individual's box in its colour (boxes given per frame)."""
        fix = os.environ["POSEBATCH_FIXTURES"]
        boxes = os.path.join(self.tmp.name, "boxes.json")
        with open(boxes, "w") as f:
            f.write('{"0": [[40, 40, 80, 80]], "1": [[50, 40, 80, 80], [150, 100, 60, 60]]}')
        d = os.path.join(self.tmp.name, "td")
        r = run("analyze", os.path.join(fix, "models", "td_tiny"), os.path.join(fix, "videos", "index_h264.mp4"),
                "--no-track",
                "--boxes", boxes, "-d", d, "--frames", "0:4", "-q", "--labeled-video", "--draw-boxes", "--dotsize", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = [o for o in r.stdout.split() if o.endswith("_labeled.mp4")][0]
        frames = decode(out)
        self.assertEqual(len(frames), 4)
        individuals = pd.read_hdf([o for o in r.stdout.split() if o.endswith(".h5")][0]).columns.get_level_values(1)
        self.assertEqual(individuals.nunique(), 3)
        raw = decode(os.path.join(fix, "videos", "index_h264.mp4"))[:4]  # a noise video: compare with it

        def drawn(f, x, y, colour, radius=2):
            """A pixel near (x, y) moved towards `colour` by drawing (4:2:0 blurs thin lines on noise)."""
            sl = np.s_[y - radius:y + radius + 1, x - radius:x + radius + 1]
            before = np.abs(raw[f][sl].astype(int) - colour).sum(axis=-1)
            after = np.abs(frames[f][sl].astype(int) - colour).sum(axis=-1)
            return bool((after + 80 < before).any())

        first, second = (127, 0, 255), (128, 254, 179)  # rainbow at 0 and 0.5: individuals a and b
        self.assertTrue(drawn(1, 90, 40, first))    # top edge of box 1 at frame 1
        self.assertTrue(drawn(1, 50, 80, first))    # its left edge
        self.assertTrue(drawn(1, 180, 100, second))  # box 2 (top edge), the second individual's colour
        self.assertTrue(drawn(0, 80, 40, first))    # frame 0's box
        self.assertFalse(drawn(1, 90, 75, first))   # boxes are not filled
        self.assertFalse(drawn(2, 90, 40, first))   # frame 2 has no box: none drawn

    def test_errors(self):
        r = run("label", os.path.join(self.tmp.name, "none.h5"), VIDEO)
        self.assertEqual(r.returncode, 1)
        self.assertIn("none.h5", r.stderr)
        r = run("label", VIDEO, VIDEO)  # not an HDF5 file
        self.assertEqual(r.returncode, 1)
        self.assertIn("video.mp4", r.stderr)
        r = run("label", self.h5, VIDEO, "--colormap", "nope")
        self.assertEqual(r.returncode, 2)
        r = run("label", self.h5, VIDEO, "--pcutoff", "3")
        self.assertEqual(r.returncode, 2)
        r = run("analyze", os.path.join(SAMPLE, "model"), VIDEO, "--dotsize", "3")  # needs --labeled-video
        self.assertEqual(r.returncode, 2)
        self.assertFalse([f for f in os.listdir(self.tmp.name) if f.endswith(".part")])


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


class Plots(unittest.TestCase):
    def test_plots_exist_decode_and_have_axes(self):
        with tempfile.TemporaryDirectory() as d:
            r = run("analyze", os.path.join(SAMPLE, "model"), VIDEO, "--dest", d, "--frames", "0:60", "-q")
            self.assertEqual(r.returncode, 0, r.stderr)
            h5 = [o for o in r.stdout.split() if o.endswith(".h5")][0]
            out = os.path.join(d, "plots")
            r = run("plot", h5, "-o", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            names = sorted(os.path.basename(p) for p in r.stdout.split())
            self.assertEqual(names, sorted(f"{n}.{e}" for n in ("trajectory", "plot", "plot-likelihood", "hist")
                                           for e in ("png", "svg")))
            for n in ("trajectory", "plot", "plot-likelihood", "hist"):
                png = os.path.join(out, n + ".png")
                self.assertEqual(png_size(png), (800, 600))
                img = decode(png, 800, 600)[0].astype(int)
                dark = img.sum(axis=-1) < 150
                # The axes box (left 70, bottom 545, as plot_axes.cc lays it out): dark lines.
                self.assertGreater(dark[40:545, 69:72].any(axis=1).mean(), 0.95, n)
                self.assertGreater(dark[544:547, 70:780].any(axis=0).mean(), 0.95, n)
                # Data inside the box: coloured pixels, not blank.
                inside = img[45:540, 75:775]
                coloured = (inside.max(axis=-1) - inside.min(axis=-1)) > 60
                self.assertGreater(coloured.sum(), 300, n)
                # Tick labels and axis titles: dark pixels left of and under the box.
                ink = img.sum(axis=-1) < 450  # anti-aliased text is grey
                self.assertGreater(ink[50:540, 0:65].sum(), 150, n)
                self.assertGreater(ink[550:600, 80:780].sum(), 150, n)
                with open(os.path.join(out, n + ".svg")) as f:
                    self.assertIn("<svg", f.read(400))
            # Default folder: plot-poses/<h5 stem> beside the file, as DeepLabCut.
            r = run("plot", h5, "--no-svg")
            self.assertEqual(r.returncode, 0, r.stderr)
            stem = os.path.splitext(os.path.basename(h5))[0]
            self.assertTrue(os.path.exists(os.path.join(d, "plot-poses", stem, "hist.png")))
            r = run("plot", os.path.join(d, "missing.h5"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("missing.h5", r.stderr)


if __name__ == "__main__":
    unittest.main()
