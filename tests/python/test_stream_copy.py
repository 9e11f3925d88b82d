"""Clips cut with `ffmpeg -c copy` through the CLI (issue 17).

Their timestamps do not number their frames (an mp4 edit list hides the frames before an
off-keyframe cut, B-frames at the cut's end are shown after frames the cut dropped), but every
frame decodes: the rows are the frames in decode order, as DeepLabCut (OpenCV) numbers them, with
no frame reported lost, no NaN row and exit 0. Each clip's rows are compared with those of a
reference holding the same frames: every frame of the clip decoded in order by the ffmpeg CLI and
stored losslessly (FFV1 in AVI, fresh timestamps), so the reference's row i is the clip's frame i.

Run by ctest (cli_stream_copy) with POSEBATCH_BIN, POSEBATCH_SOURCE and POSEBATCH_REAL set. Uses
Debian's /usr/bin/python3 with python3-pandas and python3-tables.
"""
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
SOURCE = os.environ["POSEBATCH_SOURCE"]
REAL = os.environ["POSEBATCH_REAL"]
SAMPLE_VIDEO = os.path.join(SOURCE, "samples", "synth", "video.mp4")
SAMPLE_MODEL = os.path.join(SOURCE, "samples", "synth", "model")
REAL_VIDEO = os.path.join(REAL, "openfield-Pranav-2018-10-30", "videos", "m3v1mp4.mp4")


def ffmpeg(*args, **kw):
    return subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, **kw)


def probe_stream(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=width,height,pix_fmt,nb_read_frames", "-of", "json", path],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def decoded_in_order(clip, dest):
    """Every frame of `clip` decoded in order (no frame dropped or repeated for its timestamp),
    stored losslessly with fresh timestamps at 30 fps; returns (path, frames)."""
    s = probe_stream(clip)
    raw = ffmpeg("-i", clip, "-map", "0:v:0", "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", s["pix_fmt"],
                 "-", capture_output=True).stdout
    ref = dest + ".ref.avi"
    ffmpeg("-f", "rawvideo", "-pix_fmt", s["pix_fmt"], "-s", f"{s['width']}x{s['height']}", "-r", "30", "-i", "-",
           "-c:v", "ffv1", ref, input=raw)
    frames = probe_stream(ref)["nb_read_frames"]
    return ref, int(frames)


class StreamCopiedClips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def analyze(self, video, sub):
        # One frame per batch and one thread: a frame's prediction cannot depend on its batch.
        d = os.path.join(self.tmp.name, "out", sub)
        r = subprocess.run([BIN, "analyze", SAMPLE_MODEL, video, "--dest", d, "--scorer", "S", "-b", "1", "-t", "1"],
                           capture_output=True, text=True, timeout=600)
        h5 = os.path.join(d, os.path.splitext(os.path.basename(video))[0] + "S.h5")
        return r, (pd.read_hdf(h5) if os.path.exists(h5) else None)

    def check_clip(self, source, name, pre, post):
        clip = os.path.join(self.tmp.name, name)
        ffmpeg(*pre, "-i", source, *post, "-c", "copy", clip)
        ref, n = decoded_in_order(clip, clip)
        self.assertEqual(n, int(probe_stream(clip)["nb_read_frames"]))  # ffprobe counts the same frames
        r, df = self.analyze(clip, name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("could not be decoded", r.stderr)
        self.assertNotIn("declares", r.stderr)
        self.assertNotIn("warning", r.stderr)
        self.assertEqual(list(df.index), list(range(n)))
        self.assertFalse(df.isna().any().any())
        r, expected = self.analyze(ref, name + ".ref")
        self.assertEqual(r.returncode, 0, r.stderr)
        np.testing.assert_array_equal(df.to_numpy(), expected.to_numpy())

    def test_sample_clips(self):
        # The sample has one keyframe (frame 0) and B-frames: a cut at 2 s or 6.1 s is off the
        # keyframe (mp4: an edit list hides the frames from 0 to the cut; mkv starts at frame 0).
        cuts = [("head.mp4", [], ["-t", "5"]),  # the recipe; its last frames skip timestamps
                ("head.mkv", [], ["-t", "5"]),
                ("off_key.mp4", ["-ss", "2"], ["-t", "4"]),
                ("off_key.mkv", ["-ss", "2"], ["-t", "4"]),
                ("to_end.mp4", ["-ss", "6.1"], []),
                ("shifted.mp4", ["-ss", "2"], ["-t", "2", "-avoid_negative_ts", "make_zero"])]
        for name, pre, post in cuts:
            with self.subTest(name):
                self.check_clip(SAMPLE_VIDEO, name, pre, post)

    def test_real_video_clips(self):
        # The real open-field video (H.264 4:4:4, B-frames): its first second cut by stream copy
        # ends two frame periods past its 33rd frame (numbered by timestamp: a NaN row at 31).
        # The sample model runs on any frame size.
        for name in ("real_head.mp4", "real_head.mkv"):
            with self.subTest(name):
                self.check_clip(REAL_VIDEO, name, [], ["-t", "1"])


if __name__ == "__main__":
    unittest.main()
