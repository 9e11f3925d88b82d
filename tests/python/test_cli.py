"""End-to-end tests of the posebatch CLI: real videos in, files out, read back by pandas.

Run by ctest (cli_end_to_end) with POSEBATCH_BIN, POSEBATCH_FIXTURES, POSEBATCH_GOLDEN and
POSEBATCH_SOURCE set. Uses Debian's /usr/bin/python3 with python3-pandas and python3-tables.
"""
import io
import os
import random
import re
import signal
import struct
import subprocess
import tempfile
import time
import unittest

import numpy as np
import pandas as pd
import tables

import heap_trace

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOLDEN = os.environ["POSEBATCH_GOLDEN"]
SOURCE = os.environ["POSEBATCH_SOURCE"]
GOLDEN_SCORER = "DLC_Resnet50_goldenNov24shuffle1_snapshot_000"


def run(*args, timeout=300):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def attr_names(node):
    return sorted(node._v_attrs._f_list("all"))


class GoldenStructure(unittest.TestCase):
    """Our .h5/.csv for DeepLabCut's golden video have DeepLabCut's exact structure."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        video = os.path.join(GOLDEN, "r50_bu_single", "video.mp4")
        r = run("analyze", os.path.join(FIX, "models", "good"), video, "--dest", cls.tmp.name, "--csv",
                "--scorer", GOLDEN_SCORER, "--batch-size", "4", "--quiet")
        assert r.returncode == 0, r.stderr
        cls.h5 = os.path.join(cls.tmp.name, "video" + GOLDEN_SCORER + ".h5")
        cls.csv = os.path.join(cls.tmp.name, "video" + GOLDEN_SCORER + ".csv")
        cls.ours = pd.read_hdf(cls.h5)
        cls.theirs = pd.read_hdf(os.path.join(GOLDEN, "r50_bu_single", "video_dlc.h5"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_dataframe_structure_matches_deeplabcut(self):
        o, t = self.ours, self.theirs
        self.assertEqual(o.shape, t.shape)
        self.assertTrue(o.columns.equals(t.columns))
        self.assertEqual(list(o.columns.names), list(t.columns.names))
        self.assertTrue(o.index.equals(t.index))
        self.assertEqual(o.index.dtype, t.index.dtype)
        self.assertEqual(list(o.dtypes.unique()), list(t.dtypes.unique()))

    def test_hdf_layout_matches_deeplabcut(self):
        with pd.HDFStore(self.h5, "r") as a, pd.HDFStore(os.path.join(GOLDEN, "r50_bu_single", "video_dlc.h5"), "r") as b:
            self.assertEqual(a.keys(), b.keys())
            sa, sb = a.get_storer("df_with_missing"), b.get_storer("df_with_missing")
            self.assertEqual(sa.pandas_type, sb.pandas_type)
            self.assertEqual(sa.table_type, sb.table_type)
            self.assertEqual(sa.is_table, sb.is_table)
        with tables.open_file(self.h5) as a, tables.open_file(os.path.join(GOLDEN, "r50_bu_single", "video_dlc.h5")) as b:
            self.assertEqual(attr_names(a.root), attr_names(b.root))
            ga, gb = a.root.df_with_missing, b.root.df_with_missing
            self.assertEqual(attr_names(ga), attr_names(gb))
            for name in attr_names(gb):
                if name not in ("CLASS", "VERSION", "TITLE"):
                    self.assertEqual(ga._v_attrs[name], gb._v_attrs[name], name)
            ta, tb = ga.table, gb.table
            self.assertEqual(ta.dtype, tb.dtype)
            self.assertEqual(attr_names(ta), attr_names(tb))
            for name in ("values_block_0_kind", "values_block_0_dtype", "index_kind", "NROWS", "FIELD_0_NAME",
                         "FIELD_1_NAME"):
                self.assertEqual(ta.attrs[name], tb.attrs[name], name)

    def test_csv_is_pandas_to_csv_and_deeplabcut_headers(self):
        with open(self.csv) as f:
            text = f.read()
        buf = io.StringIO()
        self.ours.to_csv(buf)
        self.assertEqual(text, buf.getvalue())
        with open(os.path.join(GOLDEN, "r50_bu_single", "video_dlc.csv")) as f:
            golden_header = f.read().splitlines()[:3]
        self.assertEqual(text.splitlines()[:3], golden_header)
        self.assertEqual(len(text.splitlines()), 3 + 24)

    def test_meta_pickle_is_deeplabcuts(self):
        import pickle
        with open(os.path.join(self.tmp.name, "video" + GOLDEN_SCORER + "_meta.pickle"), "rb") as f:
            meta = pickle.load(f)["data"]
        self.assertEqual(meta["Scorer"], GOLDEN_SCORER)
        self.assertEqual(meta["frame_dimensions"], (256, 192))
        self.assertEqual(meta["nframes"], 24)
        self.assertEqual(meta["batch_size"], 4)
        self.assertEqual(meta["bodyparts"], ["nose", "ear_l", "ear_r", "tail"])
        self.assertEqual(meta["cropping"], False)
        self.assertEqual(meta["cropping_parameters"], [0, 256, 0, 192])
        self.assertEqual(meta["pytorch-config"]["method"], "bu")
        self.assertEqual(meta["pytorch-config"]["model"]["backbone"]["output_stride"], 16)
        self.assertLessEqual(meta["start"], meta["stop"])
        self.assertAlmostEqual(meta["fps"], 30.0, places=3)

    def test_values_are_real_predictions(self):
        v = self.ours.to_numpy()
        self.assertFalse(np.isnan(v).any())
        like = self.ours.xs("likelihood", level="coords", axis=1).to_numpy()
        self.assertTrue(((like >= 0) & (like <= 1)).all())
        xs = self.ours.xs("x", level="coords", axis=1).to_numpy()
        self.assertTrue(((xs >= 0) & (xs <= 256 + 8)).all())


class TinyModelTestCase(unittest.TestCase):
    """A temporary destination folder per test and the tiny fixture model."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dest = self.tmp.name
        self.model = os.path.join(FIX, "models", "good")

    def tearDown(self):
        self.tmp.cleanup()


class Behaviour(TinyModelTestCase):
    def outputs(self):
        return sorted(os.listdir(self.dest))

    def test_async_and_sequential_files_are_identical(self):
        video = os.path.join(FIX, "videos", "index_h264.mp4")
        for name, extra in [("a", []), ("s", ["--no-async", "--batch-size", "1"]), ("w", ["--workers", "2", "-b", "64"])]:
            d = os.path.join(self.dest, name)
            r = run("analyze", self.model, video, "--dest", d, "--scorer", "S", "-q", "-t", "1", *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
        frames = [pd.read_hdf(os.path.join(self.dest, n, "index_h264S.h5")) for n in "asw"]
        self.assertEqual(len(frames[0]), 75)
        for f in frames[1:]:
            pd.testing.assert_frame_equal(frames[0], f, check_exact=True)

    def test_batch_size_auto_measures_and_gives_the_same_results(self):
        video = os.path.join(FIX, "videos", "index_h264.mp4")
        r = run("analyze", self.model, video, "--dest", os.path.join(self.dest, "auto"), "--scorer", "S", "-b", "auto")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"batch size auto: 1: [0-9.]+ fps, 2: [0-9.]+ fps, 4: [0-9.]+ fps, 8: [0-9.]+ fps -> [1248]\n")
        r = run("analyze", self.model, video, "--dest", os.path.join(self.dest, "b1"), "--scorer", "S", "-q", "-b", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        a, b = (pd.read_hdf(os.path.join(self.dest, d, "index_h264S.h5")) for d in ("auto", "b1"))
        pd.testing.assert_frame_equal(a, b, check_exact=True)

    def test_gpu_options_fail_cleanly_without_cuda(self):
        video = os.path.join(FIX, "videos", "index_h264.mp4")
        dlc = os.path.join(FIX, "dlc", "r50_bu_single.pt")
        self.assertCleanFailure(run("analyze", self.model, video, "--dest", self.dest, "--device", "cuda"),
                                "--device cuda", "no CUDA")
        self.assertCleanFailure(run("analyze", dlc, video, "--dest", self.dest, "--device", "cuda:0"), "no CUDA")
        self.assertCleanFailure(run("analyze", dlc, video, "--dest", self.dest, "--half"), "--half", "GPU")
        r = run("analyze", self.model, video, "--dest", self.dest, "--device", "tpu")
        self.assertCleanFailure(r, "--device", "cpu, cuda or cuda:N", "'tpu'")
        self.assertEqual(r.returncode, 2)  # a usage error

    def test_frame_range_and_crop(self):
        video = os.path.join(FIX, "videos", "index_h264.mp4")
        r = run("analyze", self.model, video, "--dest", self.dest, "--scorer", "S", "-q", "--frames", "5:20",
                "--crop", "0,160,0,120")
        self.assertEqual(r.returncode, 0, r.stderr)
        df = pd.read_hdf(os.path.join(self.dest, "index_h264S.h5"))
        self.assertEqual(list(df.index), list(range(5, 20)))
        xs = df.xs("x", level="coords", axis=1).to_numpy()
        self.assertTrue((xs < 160 + 8).all())  # coordinates are in the cropped image

    def test_existing_results_are_skipped_unless_overwrite(self):
        video = os.path.join(FIX, "videos", "index_mjpeg.avi")
        self.assertEqual(run("analyze", self.model, video, "--dest", self.dest, "-q").returncode, 0)
        h5 = [f for f in self.outputs() if f.endswith(".h5")][0]
        before = os.stat(os.path.join(self.dest, h5)).st_mtime_ns
        r = run("analyze", self.model, video, "--dest", self.dest)
        self.assertEqual(r.returncode, 0)
        self.assertIn("skipping", r.stderr)
        self.assertEqual(os.stat(os.path.join(self.dest, h5)).st_mtime_ns, before)
        self.assertEqual(run("analyze", self.model, video, "--dest", self.dest, "-q", "--overwrite").returncode, 0)

    def test_many_videos_in_one_run(self):
        videos = os.path.join(FIX, "videos")
        r = run("analyze", self.model, videos, "--dest", self.dest, "-q", "--scorer", "S")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len([f for f in self.outputs() if f.endswith(".h5")]), len(os.listdir(videos)))

    def test_image_folder_like_analyze_images(self):
        images = os.path.join(FIX, "images")
        r = run("analyze", self.model, images, "--dest", self.dest, "-q", "--scorer", "S", "--csv", "-b", "4")
        self.assertEqual(r.returncode, 0, r.stderr)
        df = pd.read_hdf(os.path.join(self.dest, "image_predictions_S.h5"), "predictions")
        expected = sorted(os.path.join(images, f) for f in os.listdir(images))
        self.assertEqual(list(df.index), expected)
        self.assertEqual(list(df.columns.names), ["scorer", "individuals", "bodyparts", "coords"])
        self.assertEqual(set(df.columns.get_level_values("individuals")), {"animal"})
        buf = io.StringIO()
        df.to_csv(buf)
        with open(os.path.join(self.dest, "image_predictions_S.csv")) as f:
            self.assertEqual(f.read(), buf.getvalue())

    def assertCleanFailure(self, result, *needles):
        self.assertNotEqual(result.returncode, 0)
        for n in needles:
            self.assertIn(n, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual([f for f in self.outputs() if f.endswith((".h5", ".csv", ".part"))], [])

    def test_missing_video(self):
        self.assertCleanFailure(run("analyze", self.model, "/no/such/file.mp4", "--dest", self.dest),
                                "/no/such/file.mp4", "no such file")

    def test_not_a_video(self):
        for name in ("not_a_video.mp4", "empty.mp4"):
            self.assertCleanFailure(run("analyze", self.model, os.path.join(FIX, name), "--dest", self.dest), name)

    def test_config_missing_field(self):
        r = run("analyze", os.path.join(FIX, "models", "missing_field"), os.path.join(FIX, "videos", "index_h264.mp4"),
                "--dest", self.dest)
        self.assertCleanFailure(r, "metadata.bodyparts", "pytorch_config.yaml")

    def test_model_output_of_wrong_shape(self):
        r = run("analyze", os.path.join(FIX, "models", "wrong_shape"), os.path.join(FIX, "videos", "index_h264.mp4"),
                "--dest", self.dest, "--csv")
        self.assertCleanFailure(r, "bodypart/heatmap", "index_h264.mp4", "expected [")

    def test_ctrl_c_leaves_no_partial_file(self):
        video = os.path.join(self.dest, "long.mp4")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                        "-frames:v", "6000", "-c:v", "libx264", "-preset", "ultrafast", video], check=True)
        out = os.path.join(self.dest, "out")
        p = subprocess.Popen([BIN, "analyze", self.model, video, "--dest", out, "-b", "1", "-t", "1", "--csv"],
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and not (os.path.isdir(out) and any(f.endswith(".part") for f in os.listdir(out))):
            time.sleep(0.005)  # interrupt once the run is under way and files are half-written
        self.assertIsNone(p.poll(), "run finished before it could be interrupted")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("interrupted", err)
        # Only the resume journal may stay (when a chunk was complete), for --resume.
        self.assertEqual([f for f in os.listdir(out) if not f.endswith(".resume")], [])

    def test_info(self):
        r = run("info", self.model)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nose ear_l ear_r tail", r.stdout)
        self.assertIn("stride 8", r.stdout)


class Usage(TinyModelTestCase):
    """Every usage error exits 2 with a message naming the option; --version and --help exit 0."""

    def test_usage_errors_exit_2(self):
        video = os.path.join(FIX, "videos", "index_h264.mp4")
        cases = [
            ([], "inputs"),
            (["--batch-size", "0"], "--batch-size"),
            (["--batch-size", "many"], "--batch-size"),
            (["--threads", "0"], "--threads"),
            (["--workers", "0"], "--workers"),
            (["--slots", "-1"], "--slots"),
            (["--frames", "5:3"], "--frames"),
            (["--frames", "a:b"], "--frames"),
            (["--frames", "12"], "--frames"),
            (["--crop", "1,2,3"], "--crop"),
            (["--crop", "10,5,0,8"], "--crop"),
            (["--device", "gpu"], "--device"),
            (["--precision", "int4"], "--precision"),
            (["--precision", "bf16"], "not TorchScript"),  # self.model is TorchScript: its graph is fixed
            (["--precision", "int8"], "not TorchScript"),
            (["--conditions", video, "--conditions-model", self.model], "excludes"),
            (["--no-such-option"], "--no-such-option"),
        ]
        for extra, needle in cases:
            with self.subTest(extra=extra):
                args = ["analyze", self.model] + ([video] if extra else []) + extra + ["--dest", self.dest]
                r = run(*args)
                self.assertEqual(r.returncode, 2, (extra, r.stderr))
                self.assertIn(needle, r.stderr)
                self.assertEqual([f for f in os.listdir(self.dest) if f.endswith((".h5", ".part"))], [])

    def test_environment_variables_set_options_and_are_checked(self):
        """POSEBATCH_BATCH_SIZE / _THREADS / _PRECISION / _DEVICE stand for their options when not
        given (the help names them); a bad value is a usage error naming the option."""
        video = os.path.join(FIX, "videos", "index_h264.mp4")
        for var, value, option in (("POSEBATCH_BATCH_SIZE", "0", "--batch-size"),
                                   ("POSEBATCH_THREADS", "many", "--threads"),
                                   ("POSEBATCH_PRECISION", "int4", "--precision"),
                                   ("POSEBATCH_DEVICE", "gpu", "--device")):
            with self.subTest(var=var):
                r = subprocess.run([BIN, "analyze", self.model, video, "--dest", self.dest],
                                   capture_output=True, text=True, timeout=300, env=dict(os.environ, **{var: value}))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(option, r.stderr)
        # Given on the command line, the option wins over the environment.
        r = subprocess.run([BIN, "analyze", self.model, video, "--dest", self.dest, "--batch-size", "2", "--quiet"],
                           capture_output=True, text=True, timeout=300, env=dict(os.environ, POSEBATCH_BATCH_SIZE="0"))
        self.assertEqual(r.returncode, 0, r.stderr)
        help_text = run("analyze", "--help").stdout
        for var in ("POSEBATCH_BATCH_SIZE", "POSEBATCH_THREADS", "POSEBATCH_PRECISION", "POSEBATCH_DEVICE"):
            self.assertIn(var, help_text)

    def test_version_and_help(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^posebatch \d+\.\d+\.\d+\n$")
        r = run("analyze", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for group in ("Model", "Outputs", "Performance", "Top-down"):
            self.assertIn(group, r.stdout)


class DamagedVideos(TinyModelTestCase):
    """Damaged copies of the index videos (make_fixtures.py: write_damaged_videos): what can be
    decoded is, rows stay on the video's timeline (lost frames are rows of NaN), the loss is
    reported, and the exit status says so."""

    def analyze(self, video, sub, *extra):
        # One frame per batch and one thread: a frame's prediction cannot depend on its batch.
        d = os.path.join(self.dest, sub)
        r = run("analyze", self.model, video, "--dest", d, "--scorer", "S", "-q", "-b", "1", "-t", "1", "--csv", *extra)
        stem = os.path.splitext(os.path.basename(video))[0]
        h5 = os.path.join(d, stem + "S.h5")
        return r, (pd.read_hdf(h5) if os.path.exists(h5) else None), os.path.join(d, stem + "S.csv")

    def clean(self, name):
        return self.analyze(os.path.join(FIX, "videos", name), "clean")[1]

    def assertRowsEqualClean(self, df, clean, rows):
        for i in rows:
            np.testing.assert_array_equal(df.loc[i].to_numpy(), clean.loc[i].to_numpy(), err_msg=f"frame {i}")

    def test_lost_frames_are_nan_rows_in_place(self):
        r, df, csv = self.analyze(os.path.join(FIX, "damaged", "zeroed_mjpeg.avi"), "d")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("3 frames could not be decoded", r.stderr)
        self.assertIn("frames 10-11, 40", r.stderr)
        self.assertIn("zeroed_mjpeg.avi", r.stderr)
        self.assertEqual(list(df.index), list(range(75)))
        lost = [10, 11, 40]
        self.assertTrue(df.loc[lost].isna().all().all())
        kept = [i for i in range(75) if i not in lost]
        self.assertFalse(df.loc[kept].isna().any().any())
        # Every other row is the prediction for that very frame: equal to the undamaged video's.
        self.assertRowsEqualClean(df, self.clean("index_mjpeg.avi"), kept)
        # The .csv holds the same rows (NaN as empty fields, as pandas writes them).
        back = pd.read_csv(csv, header=[0, 1, 2], index_col=0)
        np.testing.assert_array_equal(back.to_numpy(np.float32), df.to_numpy())

    def test_allow_lost_frames_exits_zero(self):
        r, df, _ = self.analyze(os.path.join(FIX, "damaged", "zeroed_mjpeg.avi"), "d", "--allow-lost-frames")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("could not be decoded", r.stderr)  # still reported
        self.assertEqual(len(df), 75)

    def test_truncated_file_keeps_its_head_and_marks_the_tail(self):
        for name, clean in [("truncated_h264.mp4", "index_h264.mp4"), ("truncated_mpeg4.avi", "index_mpeg4.avi"),
                            ("truncated_ffv1.mkv", "index_ffv1.mkv")]:
            with self.subTest(name):
                r, df, _ = self.analyze(os.path.join(FIX, "damaged", name), name)
                self.assertEqual(r.returncode, 3, r.stderr)
                self.assertIn("could not be decoded", r.stderr)
                self.assertEqual(list(df.index), list(range(75)))
                decoded = df.notna().all(axis=1).to_numpy()
                n = int(decoded.sum())
                self.assertTrue(20 < n < 60, n)
                self.assertTrue(decoded[:n].all() and not decoded[n:].any())  # head decoded, tail NaN
                self.assertIn(f"frames {n}-74", r.stderr)
                self.assertRowsEqualClean(df, self.clean(clean), range(n - 1))  # the last may be cut short

    def test_bit_flips_never_shift_rows(self):
        for name in ("bitflip_h264.mp4", "bitflip_mjpeg.avi", "zeroed_h264.mp4"):
            with self.subTest(name):
                r, df, _ = self.analyze(os.path.join(FIX, "damaged", name), name)
                self.assertIn(r.returncode, (0, 3), r.stderr)
                self.assertEqual(list(df.index), list(range(75)))
                self.assertEqual(r.returncode == 3, bool(df.isna().any().any()), r.stderr)

    def test_unreadable_files_are_errors_naming_them(self):
        for path in (os.path.join(FIX, "damaged", "no_moov.mp4"), os.path.join(FIX, "empty.mp4"),
                     os.path.join(FIX, "not_a_video.mp4")):
            r = run("analyze", self.model, path, "--dest", self.dest)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(path, r.stderr)
            self.assertEqual(os.listdir(self.dest), [])

    def test_one_damaged_video_among_good_ones(self):
        r = run("analyze", self.model, os.path.join(FIX, "videos", "index_mjpeg.avi"),
                os.path.join(FIX, "damaged", "zeroed_mjpeg.avi"), "--dest", self.dest, "-q", "--scorer", "S")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(sorted(f for f in os.listdir(self.dest) if f.endswith(".h5")),
                         ["index_mjpegS.h5", "zeroed_mjpegS.h5"])


class FullOrReadOnlyDisk(unittest.TestCase):
    """A destination that fills up or cannot be written: a clear error, exit 1, no partial
    file, and earlier complete results untouched. Uses small tmpfs mounts (needs root; the
    tests are skipped where mounting is not permitted)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.mnt = os.path.join(self.tmp.name, "mnt")
        os.mkdir(self.mnt)
        self.mounted = False
        self.model = os.path.join(FIX, "models", "good")

    def tearDown(self):
        if self.mounted:
            subprocess.run(["umount", self.mnt], check=False)
        self.tmp.cleanup()

    def mount(self, *opts):
        if self.mounted:
            subprocess.run(["umount", self.mnt], check=True)
            self.mounted = False
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        self.mounted = True

    def analyze(self, *extra):
        return run("analyze", self.model, os.path.join(FIX, "videos", "index_mjpeg.avi"), "--dest", self.mnt,
                   "--scorer", "S", "-q", "-t", "1", "--csv", *extra)

    def test_disk_full_is_a_clear_error_without_partial_files(self):
        self.mount("size=16k")
        r = self.analyze()
        self.assertEqual(r.returncode, 1, r.stderr)  # not a crash (it was SIGSEGV at exit)
        self.assertIn("disk full", r.stderr)
        self.assertIn("index_mjpegS", r.stderr)
        self.assertEqual(os.listdir(self.mnt), [])

    def contents(self):
        out = {}
        for name in os.listdir(self.mnt):
            with open(os.path.join(self.mnt, name), "rb") as f:
                out[name] = f.read()
        return out

    def test_disk_full_keeps_earlier_results(self):
        self.mount("size=512k")
        self.assertEqual(self.analyze().returncode, 0)
        before = self.contents()
        self.assertEqual(sorted(before), ["index_mjpegS.csv", "index_mjpegS.h5", "index_mjpegS_meta.pickle"])
        # Fill the disk to the last byte, then redo the analysis over the earlier results.
        fd = os.open(os.path.join(self.mnt, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 512) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        r = self.analyze("--overwrite")
        self.assertEqual(r.returncode, 1, r.stderr)
        os.remove(os.path.join(self.mnt, "filler"))
        after = self.contents()
        self.assertEqual(after, before)
        self.assertEqual(len(pd.read_hdf(os.path.join(self.mnt, "index_mjpegS.h5"))), 75)

    def test_read_only_destination(self):
        self.mount("ro", "size=64k")
        r = self.analyze()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(self.mnt, r.stderr)
        self.assertIn("writable", r.stderr)


class KilledMidRun(unittest.TestCase):
    """SIGKILL at random moments: no final-named file unless complete; --resume continues from the
    last complete chunk of the journal and the final files equal an uninterrupted run's."""

    FRAMES = 6000
    BATCH = 4
    CHUNK_ROWS = 256  # the journal's chunk for batch 4 (a multiple of it, about 256 rows)
    NCOLS = 12        # 4 bodyparts x (x, y, likelihood)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.video = os.path.join(cls.tmp.name, "long.mp4")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                        "-frames:v", str(cls.FRAMES), "-c:v", "libx264", "-preset", "ultrafast", cls.video],
                       check=True)
        cls.model = os.path.join(FIX, "models", "good")
        cls.ref = os.path.join(cls.tmp.name, "ref")
        r = subprocess.run(cls.command(cls.ref), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        cls.ref_df = pd.read_hdf(os.path.join(cls.ref, "longS.h5"))
        assert len(cls.ref_df) == cls.FRAMES
        seed = int(os.environ.get("POSEBATCH_KILL_SEED", time.time_ns() % 2**32))
        print(f"KilledMidRun: random seed {seed} (POSEBATCH_KILL_SEED to repeat)")
        cls.rng = random.Random(seed)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def command(cls, dest, *extra, batch=None):
        return [BIN, "analyze", cls.model, cls.video, "--dest", dest, "--scorer", "S", "--csv", "-t", "1", "-b",
                str(batch or cls.BATCH), "-q", *extra]

    def setUp(self):
        self.dest = os.path.join(self.tmp.name, self.id().rsplit(".", 1)[-1])
        self.journal = os.path.join(self.dest, "longS.resume")

    def read(self, name):
        with open(os.path.join(self.dest, name), "rb") as f:
            return f.read()

    def journal_state(self):
        """(complete chunks, header bytes, chunk bytes) of the journal, from its size (format:
        src/io/resume_journal.h); no journal or a torn header counts as 0 chunks."""
        chunk = 16 + self.CHUNK_ROWS * (8 + 4 * self.NCOLS) + 4
        magic = b"posebatch-resume-journal 1\n"
        try:
            with open(self.journal, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return 0, None, chunk
        if len(data) < len(magic) + 4 or not data.startswith(magic):
            return 0, None, chunk
        header = len(magic) + 4 + struct.unpack_from("<I", data, len(magic))[0] + 4
        return max(0, (len(data) - header) // chunk), header, chunk

    def chunks(self):
        return self.journal_state()[0]

    def run_and_kill(self, extra=(), min_new_chunks=1, max_delay=0.25):
        """Starts a run, waits until it has completed `min_new_chunks` more journal chunks (0: not at
        all), then SIGKILLs it after a random delay. Returns (killed, stderr)."""
        before = self.chunks()
        p = subprocess.Popen(self.command(self.dest, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        deadline = time.time() + 120
        while min_new_chunks and p.poll() is None and time.time() < deadline and \
                self.chunks() < before + min_new_chunks:
            time.sleep(0.002)
        time.sleep(self.rng.uniform(0, max_delay))
        killed = p.poll() is None
        if killed:
            p.kill()
        _, err = p.communicate(timeout=60)
        if killed:
            self.assertEqual(p.returncode, -signal.SIGKILL)
        return killed, err

    def assert_nothing_final_unless_complete(self):
        """No .h5/.csv under its final name unless it is the complete, valid result."""
        names = os.listdir(self.dest) if os.path.isdir(self.dest) else []
        if "longS.h5" in names:
            pd.testing.assert_frame_equal(pd.read_hdf(os.path.join(self.dest, "longS.h5")), self.ref_df,
                                          check_exact=True)
        if "longS.csv" in names:
            self.assertEqual(self.read("longS.csv"), open(os.path.join(self.ref, "longS.csv"), "rb").read())

    def assert_equals_uninterrupted(self):
        for name in ("longS.h5", "longS.csv"):
            with open(os.path.join(self.ref, name), "rb") as f:
                self.assertEqual(self.read(name), f.read(), name + " differs from the uninterrupted run's")
        pd.testing.assert_frame_equal(pd.read_hdf(os.path.join(self.dest, "longS.h5")), self.ref_df,
                                      check_exact=True)
        self.assertTrue(os.path.exists(os.path.join(self.dest, "longS_meta.pickle")))
        self.assertEqual([f for f in os.listdir(self.dest) if f.endswith((".part", ".resume"))], [])

    def resumed_from(self, err):
        m = re.search(r"resuming from frame (\d+)", err)
        return int(m.group(1)) if m else None

    def test_sigkill_several_times_then_resume_equals_uninterrupted(self):
        kills, starts = 0, []
        for attempt in range(5):
            chunks_before = self.chunks()
            # The first kill falls anywhere, start-up included; later ones after new rows are journaled.
            killed, err = self.run_and_kill(["--resume"] if attempt else [], min_new_chunks=0 if attempt == 0 else 1,
                                            max_delay=0.6 if attempt == 0 else 0.25)
            self.assertTrue(killed, "the run finished before it could be killed: " + err)
            kills += 1
            if attempt:
                start = self.resumed_from(err)
                if chunks_before:
                    self.assertEqual(start, chunks_before * self.CHUNK_ROWS, err)
                    starts.append(start)
                else:
                    self.assertIsNone(start, err)
            self.assert_nothing_final_unless_complete()
        chunks_before = self.chunks()
        r = subprocess.run(self.command(self.dest, "--resume"), capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        start = self.resumed_from(r.stderr)
        self.assertGreater(chunks_before, 0)
        self.assertEqual(start, chunks_before * self.CHUNK_ROWS, r.stderr)
        starts.append(start)
        self.assertGreater(start, 0, "resume started from frame 0")
        self.assertEqual(starts, sorted(starts))
        self.assertEqual(start % self.BATCH, 0)
        self.assert_equals_uninterrupted()
        print(f"KilledMidRun: survived {kills} SIGKILLs; resumed from frames {starts}")

    def test_rerun_without_resume_starts_over_and_completes(self):
        killed, _ = self.run_and_kill(min_new_chunks=1)
        self.assertTrue(killed)
        self.assertGreater(self.chunks(), 0)
        self.assert_nothing_final_unless_complete()
        r = subprocess.run(self.command(self.dest), capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("an interrupted run left", r.stderr)
        self.assertIn("starting from frame 0", r.stderr)
        self.assertIsNone(self.resumed_from(r.stderr))
        self.assert_equals_uninterrupted()

    def test_torn_journal_resumes_from_the_previous_chunk(self):
        killed, _ = self.run_and_kill(min_new_chunks=2)
        self.assertTrue(killed)
        chunks, header, chunk = self.journal_state()
        self.assertGreaterEqual(chunks, 2)
        os.truncate(self.journal, header + chunks * chunk - 5)  # the last chunk loses its last bytes
        r = subprocess.run(self.command(self.dest, "--resume"), capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.resumed_from(r.stderr), (chunks - 1) * self.CHUNK_ROWS, r.stderr)
        self.assertIn("discarded a torn or corrupt tail", r.stderr)
        self.assert_equals_uninterrupted()

    def test_journal_for_other_options_is_not_used(self):
        killed, _ = self.run_and_kill(min_new_chunks=1)
        self.assertTrue(killed)
        r = subprocess.run(self.command(self.dest, "--resume", batch=8), capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cannot resume", r.stderr)
        self.assertIn("batch_size (journal 4, now 8)", r.stderr)
        self.assertIn("starting from frame 0", r.stderr)
        df = pd.read_hdf(os.path.join(self.dest, "longS.h5"))
        self.assertEqual(list(df.index), list(range(self.FRAMES)))
        self.assertFalse(os.path.exists(self.journal))


class ResourceBounds(unittest.TestCase):
    """Memory is bounded by the slots and queues, not by the length of the video or the number
    of videos. What a leak changes is counted (heap_trace.py): the live heap after each video of
    a 60-video run, and every 100 frames of a 10,000-frame video, with a robust line fitted
    through it. Clean runs (20): 1.1-1.6 KiB per video (each video's InputResult in the run's
    result) and -2 to 142 bytes per frame (what the writers keep per row); a decoded frame kept per
    video (225 KiB at 320x240) or a kilobyte kept per frame fails (README, "Reliability")."""

    PER_VIDEO = 64 * 1024  # bytes per video
    PER_FRAME = 1024       # bytes per frame

    @classmethod
    def setUpClass(cls):
        if "ASAN_OPTIONS" in os.environ:  # scripts/test.sh sets it for the sanitizer build
            raise unittest.SkipTest("AddressSanitizer's allocator replaces glibc's: mallinfo2 does not see the heap")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = os.path.join(FIX, "models", "good")
        for name, frames, size in (("short", 30, "320x240"), ("long", 10000, "160x120")):
            subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=%s:rate=30" % size,
                            "-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast",
                            os.path.join(cls.tmp.name, name + ".mp4")], check=True)
        cls.many = os.path.join(cls.tmp.name, "many")
        os.makedirs(cls.many)
        for i in range(60):
            os.symlink(os.path.join(cls.tmp.name, "short.mp4"), os.path.join(cls.many, f"v{i:02d}.mp4"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def analyze(self, video, dest):
        r, events = heap_trace.traced([BIN, "analyze", self.model, video, "--dest", os.path.join(self.tmp.name, dest),
                                       "-q", "-t", "1", "-b", "8", "--csv", "--overwrite"])
        self.assertEqual(r.returncode, 0, r.stderr)
        return events

    def test_live_heap_does_not_grow_with_video_length(self):
        frames = self.analyze(os.path.join(self.tmp.name, "long.mp4"), "l")["frames"]
        self.assertEqual([n for n, _ in frames], list(range(100, 10001, 100)))
        per_frame = heap_trace.slope(frames, skip=3)
        print(f"live heap: {per_frame:.1f} bytes per frame over 10000 frames "
              f"({frames[3][1] / heap_trace.MIB:.1f} MiB at frame 400)")
        h5 = [f for f in os.listdir(os.path.join(self.tmp.name, "l")) if f.endswith(".h5")][0]
        self.assertEqual(len(pd.read_hdf(os.path.join(self.tmp.name, "l", h5))), 10000)
        self.assertLess(per_frame, self.PER_FRAME)

    def test_live_heap_does_not_grow_with_the_number_of_videos(self):
        inputs = self.analyze(self.many, "many")["input"]
        self.assertEqual([n for n, _ in inputs], list(range(1, 61)))
        per_video = heap_trace.slope(inputs, skip=10)
        print(f"live heap: {per_video / 1024:.1f} KiB per video over 60 videos "
              f"({inputs[10][1] / heap_trace.MIB:.1f} MiB after 10)")
        self.assertEqual(len([f for f in os.listdir(os.path.join(self.tmp.name, "many")) if f.endswith(".h5")]), 60)
        self.assertLess(per_video, self.PER_VIDEO)


class SampleAccuracy(unittest.TestCase):
    """The bundled sample model on the bundled sample video, against its ground truth."""

    def test_median_error_is_small(self):
        sample = os.path.join(SOURCE, "samples", "synth")
        with tempfile.TemporaryDirectory() as d:
            r = run("analyze", os.path.join(sample, "model"), os.path.join(sample, "video.mp4"), "--dest", d, "-q")
            self.assertEqual(r.returncode, 0, r.stderr)
            h5 = [f for f in os.listdir(d) if f.endswith(".h5")][0]
            e = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "scripts", "eval_sample.py"),
                                os.path.join(d, h5), os.path.join(sample, "ground_truth.csv"), "--max-median", "3.0"],
                               capture_output=True, text=True)
            print(e.stdout)
            self.assertEqual(e.returncode, 0, e.stdout + e.stderr)


if __name__ == "__main__":
    unittest.main()
