"""What a resume journal's key covers, and one definition of a video's outputs (issue 25).

ResumeKey: a native DeepLabCut model (the golden ResNet-50 export) on a real H.264 video, stopped
at its first journal chunk (SIGUSR1, as a scheduler's time-limit warning) and resumed with a
model option changed (--precision, --channels-last, --half) or unchanged. Changed: the video starts
again from frame 0 with a note naming the field, and the result equals an uninterrupted run with
the new option (no rows of two settings spliced into one file). Unchanged: the rows equal an
uninterrupted run's, int8 included (its activation ranges come from the range's first frame, which
a resumed run measures again). int8 calibrates per video: a video's rows do not depend on the
videos analysed before it in the same process.

OutputsAgree: for every combination of outputs (--csv, --labeled-video, multi-animal pickles, CTD
tracking), `posebatch analyze` writes exactly the files the campaign manifest lists, `posebatch
status` calls the video done, and with any one of them missing both `status` and `analyze`'s skip
rule call it unfinished.

Run by ctest (cli_resume_key) with POSEBATCH_BIN, POSEBATCH_FIXTURES and POSEBATCH_SOURCE set.
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
SOURCE = os.environ["POSEBATCH_SOURCE"]
NATIVE = os.path.join(FIX, "dlc", "r50_bu_single.pt")
SAMPLE_MODEL = os.path.join(SOURCE, "samples", "synth", "model")
SAMPLE_VIDEO = os.path.join(SOURCE, "samples", "synth", "video.mp4")
CHUNK = 256  # journal rows per chunk at batch 4


def run(*args, timeout=600):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def make_video(path, frames, size="160x120"):
    """The bundled sample's frames, looped, scaled and re-encoded (H.264)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", SAMPLE_VIDEO, "-frames:v", str(frames),
                    "-vf", "scale=" + size.replace("x", ":"), "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", path], check=True)


class ResumeKey(unittest.TestCase):
    FRAMES = 320  # > 1 chunk: the stop (signalled at the start) comes at the first chunk, 256 rows

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.video = os.path.join(cls.tmp.name, "v.mp4")
        make_video(cls.video, cls.FRAMES)
        cls.refs = {}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def command(cls, dest, *extra):
        return [BIN, "analyze", NATIVE, cls.video, "--dest", dest, "--scorer", "S", "-b", "4", "-t", "2", "-q", *extra]

    @classmethod
    def reference(cls, *options):
        """An uninterrupted run's rows with these options (computed once)."""
        if options not in cls.refs:
            dest = os.path.join(cls.tmp.name, "ref" + "".join(options).replace("-", "_"))
            r = subprocess.run(cls.command(dest, *options), capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stderr
            cls.refs[options] = pd.read_hdf(os.path.join(dest, "vS.h5"))
        return cls.refs[options]

    def stopped_run(self, *options):
        """A run stopped gracefully at its first journal chunk: SIGUSR1 as soon as its journal exists."""
        dest = os.path.join(self.tmp.name, self.id().rsplit(".", 1)[-1] + "".join(options))
        journal = os.path.join(dest, "vS.resume")
        p = subprocess.Popen(self.command(dest, *options), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        deadline = time.time() + 300
        while not os.path.exists(journal) and p.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        p.send_signal(signal.SIGUSR1)
        _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 75, err)  # stopped at a checkpoint
        self.assertTrue(os.path.exists(journal))
        self.assertFalse(os.path.exists(os.path.join(dest, "vS.h5")))
        return dest

    def resume(self, dest, *options, expect_rc=0):
        r = subprocess.run(self.command(dest, "--resume", *options), capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, expect_rc, r.stderr)
        return r.stderr

    def result(self, dest):
        return pd.read_hdf(os.path.join(dest, "vS.h5"))

    def check_restarts(self, before, after, field):
        dest = self.stopped_run(*before)
        err = self.resume(dest, *after)
        self.assertIn("cannot resume", err)
        self.assertIn(field, err)
        self.assertIn("starting from frame 0", err)
        self.assertNotIn("resuming from frame", err)
        pd.testing.assert_frame_equal(self.result(dest), self.reference(*after), check_exact=True)
        self.assertFalse(os.path.exists(os.path.join(dest, "vS.resume")))

    def test_changed_precision_restarts_naming_it(self):
        # The reproduction: float32 stopped, resumed as bf16 (this machine kind has
        # AVX512-BF16; where it has not, bf16 falls back to float32 and the key says float32).
        dest = self.stopped_run()
        err = self.resume(dest, "--precision", "bf16")
        if "running float32" in err:
            self.assertIn("resuming from frame %d" % CHUNK, err)  # the same rows: float32 both times
            self.skipTest("this CPU has no bf16: --precision bf16 is float32 here")
        self.assertIn("cannot resume", err)
        self.assertIn("precision (journal float32, now bf16)", err)
        self.assertIn("starting from frame 0", err)
        pd.testing.assert_frame_equal(self.result(dest), self.reference("--precision", "bf16"), check_exact=True)

    def test_changed_memory_layout_restarts_naming_it(self):
        self.check_restarts((), ("--no-channels-last",), "layout (journal nhwc, now nchw)")

    def test_int8_after_float32_restarts_naming_it(self):
        dest = self.stopped_run()
        err = self.resume(dest, "--precision", "int8")
        if "running float32" in err:
            self.skipTest("this CPU has no VNNI: --precision int8 is float32 here")
        self.assertIn("precision (journal float32, now int8)", err)
        self.assertIn("starting from frame 0", err)
        pd.testing.assert_frame_equal(self.result(dest), self.reference("--precision", "int8"), check_exact=True)

    def test_half_on_cpu_is_refused_and_keeps_the_journal(self):
        dest = self.stopped_run()
        err = self.resume(dest, "--half", expect_rc=1)  # a model error
        self.assertIn("float16", err)
        self.assertTrue(os.path.exists(os.path.join(dest, "vS.resume")))
        self.assertFalse(os.path.exists(os.path.join(dest, "vS.h5")))

    def test_unchanged_options_resume_equal_an_uninterrupted_run(self):
        for options in [(), ("--precision", "int8")]:
            with self.subTest(options=options):
                dest = self.stopped_run(*options)
                err = self.resume(dest, *options)
                self.assertIn("resuming from frame %d" % CHUNK, err)
                pd.testing.assert_frame_equal(self.result(dest), self.reference(*options), check_exact=True)
                self.assertFalse(os.path.exists(os.path.join(dest, "vS.resume")))

    def test_int8_rows_of_a_video_do_not_depend_on_the_videos_before_it(self):
        first, second = os.path.join(self.tmp.name, "a.mp4"), os.path.join(self.tmp.name, "b.mp4")
        make_video(first, 8, "200x150")  # other frames: other activation ranges
        make_video(second, 8)
        both, alone = os.path.join(self.tmp.name, "both"), os.path.join(self.tmp.name, "alone")
        common = ["--scorer", "S", "-b", "4", "-t", "2", "-q", "--precision", "int8"]
        r = run("analyze", NATIVE, first, second, "--dest", both, *common)
        self.assertEqual(r.returncode, 0, r.stderr)
        if "running float32" in r.stderr:
            self.skipTest("this CPU has no VNNI")
        r = run("analyze", NATIVE, second, "--dest", alone, *common)
        self.assertEqual(r.returncode, 0, r.stderr)
        pd.testing.assert_frame_equal(pd.read_hdf(os.path.join(both, "bS.h5")), pd.read_hdf(os.path.join(alone, "bS.h5")),
                                      check_exact=True)


class OutputsAgree(unittest.TestCase):
    """`status` and `analyze` agree on whether a video is done, for every combination of outputs."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.video = os.path.join(cls.tmp.name, "v.mp4")
        make_video(cls.video, 12, "320x240")
        # CTD conditions: one pose of the CTD model's 5 bodyparts per frame.
        cls.conditions = os.path.join(cls.tmp.name, "conditions.json")
        pose = [[[100 + 10 * k, 100 + 5 * k, 0.9] for k in range(5)]]
        with open(cls.conditions, "w") as f:
            json.dump([pose] * 12, f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def status_of(self, campaign):
        r = run("status", campaign, "--json")
        return json.loads(r.stdout)["videos"][0]["state"]

    def check(self, name, model, *options):
        campaign = os.path.join(self.tmp.name, name, "campaign")
        out = os.path.join(self.tmp.name, name, "out")
        args = ["--dest", out, "-b", "4", "-t", "1", *options]
        r = run("plan", model, self.video, "-o", campaign, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        manifest = os.path.join(campaign, "manifest.jsonl")
        with open(manifest) as f:
            suffixes = json.loads(f.readline())["outputs"]
        self.assertEqual(suffixes[0], ".h5")
        analysis = suffixes[:suffixes.index("_meta.pickle") + 1]  # then tracking's, made from those
        r = run("analyze", "--manifest", manifest, "--progress", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        done = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
        done = [e for e in done if e.get("event") == "done"]
        base = done[0]["outputs"][0][:-len(".h5")]
        # analyze wrote exactly the listed files, in the listed order, and nothing else stays.
        self.assertEqual(done[0]["outputs"], [base + s for s in suffixes])
        self.assertEqual(sorted(os.listdir(out)), sorted(os.path.basename(base + s) for s in suffixes))
        self.assertEqual(self.status_of(campaign), "done")
        r = run("analyze", "--manifest", manifest)
        self.assertIn("already analysed", r.stderr)
        for s in suffixes:
            with self.subTest(missing=s):
                hidden = os.path.join(self.tmp.name, "hidden")
                os.rename(base + s, hidden)
                self.assertNotEqual(self.status_of(campaign), "done")
                r = run("analyze", "--manifest", manifest)
                self.assertEqual(r.returncode, 0, r.stderr)
                if s in analysis:  # analyze redoes it, as status says
                    self.assertNotIn("already analysed", r.stderr)
                else:  # tracking's: made again from the detections on disk, not by analysing again
                    self.assertIn("already analysed", r.stderr)
                self.assertTrue(os.path.exists(base + s))
                self.assertEqual(self.status_of(campaign), "done")
                os.remove(hidden)
        return suffixes

    def test_single_animal(self):
        for options, extra in [((), []), (("--csv",), [".csv"]), (("--labeled-video",), ["_labeled.mp4"]),
                               (("--csv", "--labeled-video"), [".csv", "_labeled.mp4"])]:
            with self.subTest(options=options):
                suffixes = self.check("single" + "".join(options), SAMPLE_MODEL, *options)
                self.assertEqual(suffixes, [".h5", *extra, "_meta.pickle"])

    def test_multi_animal_pickles(self):
        model = os.path.join(FIX, "models", "synth_paf")
        for options, extra in [((), []), (("--csv", "--labeled-video"), [".csv"])]:
            with self.subTest(options=options):
                suffixes = self.check("multi" + "".join(options), model, *options)
                labeled = ["_labeled.mp4"] if "--labeled-video" in options else []
                tracked = ["_el.pickle", "_el.h5", *(["_el.csv"] if "--csv" in options else [])]
                self.assertEqual(suffixes, [".h5", *extra, "_full.pickle", "_assemblies.pickle", *labeled,
                                            "_meta.pickle", *tracked])

    def test_ctd_tracking(self):
        model = os.path.join(FIX, "dlc", "ctd_rtmpose_s.pt")
        suffixes = self.check("ctd", model, "--conditions", self.conditions, "--ctd-tracking", "--csv")
        self.assertEqual(suffixes, [".h5", ".csv", "_ctd.h5", "_ctd.csv", "_full.pickle", "_assemblies.pickle",
                                    "_meta.pickle"])


if __name__ == "__main__":
    unittest.main()
