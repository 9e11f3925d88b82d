"""Top-down DeepLabCut 3 training folders (issue 28): the pose and detector snapshots a project's
training folder holds, chosen as DeepLabCut chooses them, give the export's rows and DeepLabCut's
scorer. Run by ctest (cli_training_folder, slow: a ResNet-50 per run) with POSEBATCH_BIN,
POSEBATCH_FIXTURES and POSEBATCH_GOLDEN set.
"""
import glob
import os
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOLDEN = os.environ["POSEBATCH_GOLDEN"]


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=900)


class TrainingFolder(unittest.TestCase):
    """A DeepLabCut 3 top-down project's training folder (fixtures/projects/td_golden, issue 28):
    the pose and detector snapshots are chosen as DeepLabCut chooses them (best moved last; the
    project's snapshotindex / detector_snapshotindex), decoys are not, and the rows equal the
    export's with DeepLabCut's scorer."""

    PROJECT = os.path.join(FIX, "projects", "td_golden")
    TRAIN = os.path.join(PROJECT, "dlc-models-pytorch", "iteration-0", "goldenNov24-trainset95shuffle1", "train")
    SCORER = "DLC_Resnet50_goldenNov24shuffle1_detector_best-120_snapshot_best-200"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.frames = [os.path.join(GOLDEN, "td_ssdlite_r50", f"frame{i}.png") for i in (0, 1)]
        cls.export = cls.analyze("export", os.path.join(FIX, "dlc", "td_ssdlite_r50.pt"))[1]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def analyze(cls, sub, model, *extra):
        d = os.path.join(cls.tmp.name, sub)
        r = run("analyze", model, *cls.frames, "--dest", d, "-q", "-b", "4", *extra)
        assert r.returncode == 0, r.stderr
        (h5,) = glob.glob(os.path.join(d, "image_predictions_*.h5"))
        return os.path.basename(h5)[len("image_predictions_"):-len(".h5")], pd.read_hdf(h5).to_numpy()

    def test_the_folder_gives_the_exports_rows_and_deeplabcuts_scorer(self):
        scorer, rows = self.analyze("folder", self.TRAIN)
        self.assertEqual(scorer, self.SCORER)
        self.assertGreater(int((self.export != -1).sum()), 0, "the detector found animals")
        np.testing.assert_array_equal(rows, self.export)
        # A snapshot file named directly finds its detector beside it, the same way.
        scorer, rows = self.analyze("file", os.path.join(self.TRAIN, "snapshot-best-200.pt"))
        self.assertEqual(scorer, self.SCORER)
        np.testing.assert_array_equal(rows, self.export)

    def test_other_snapshots_are_chosen_by_name_or_by_the_projects_index(self):
        scorer, rows = self.analyze("det130", self.TRAIN, "--detector-snapshot", "snapshot-detector-130.pt")
        self.assertEqual(scorer, "DLC_Resnet50_goldenNov24shuffle1_detector_130_snapshot_best-200")
        self.assertFalse(np.array_equal(rows, self.export), "the decoy detector gives other rows")
        # The project's indices, as DeepLabCut reads them: 0 = the oldest (order: 100, 210, best-200).
        project = os.path.join(self.tmp.name, "project")
        train = os.path.join(project, "dlc-models-pytorch", "iteration-0", "goldenNov24-trainset95shuffle1", "train")
        os.makedirs(train)
        for name in os.listdir(self.TRAIN):
            os.symlink(os.path.join(self.TRAIN, name), os.path.join(train, name))
        with open(os.path.join(self.PROJECT, "config.yaml")) as f:
            config = f.read().replace("snapshotindex: -1", "snapshotindex: 1")
        with open(os.path.join(project, "config.yaml"), "w") as f:
            f.write(config)
        scorer, rows = self.analyze("indices", train)
        self.assertEqual(scorer, "DLC_Resnet50_goldenNov24shuffle1_detector_130_snapshot_210")
        self.assertFalse(np.array_equal(rows, self.export))
        with open(os.path.join(project, "config.yaml"), "w") as f:
            f.write(config.replace("detector_snapshotindex: 1", "detector_snapshotindex: all"))
        r = run("analyze", train, *self.frames, "--dest", os.path.join(self.tmp.name, "all"), "-q")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("detector_snapshotindex: all", r.stderr)
        self.assertIn("posebatch analyses with one", r.stderr)

    def test_info_names_both_snapshots(self):
        r = run("info", self.TRAIN)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("snapshot-best-200.pt", r.stdout)
        self.assertIn("snapshot-detector-best-120.pt", r.stdout)
        self.assertIn(self.SCORER, r.stdout)

    def test_a_folder_without_a_detector_snapshot_says_where_it_looked(self):
        with tempfile.TemporaryDirectory() as d:
            for name in ("pytorch_config.yaml", "snapshot-best-200.pt"):
                os.symlink(os.path.join(self.TRAIN, name), os.path.join(d, name))
            out = os.path.join(d, "out")
            r = run("analyze", d, *self.frames, "--dest", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("no snapshot-detector-*.pt in " + d, r.stderr)
            self.assertIn("--boxes", r.stderr)
            self.assertFalse(os.path.exists(out) and os.listdir(out))
            # A detector snapshot of another architecture is named as such.
            r = run("analyze", d, *self.frames, "--dest", out, "--detector-snapshot",
                    os.path.join(self.TRAIN, "snapshot-best-200.pt"))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("snapshot-best-200.pt", r.stderr)
            # --detector-snapshot on a bottom-up model is refused by name.
            r = run("analyze", os.path.join(FIX, "dlc", "r50_bu_single.pt"), *self.frames, "--dest", out,
                    "--detector-snapshot", os.path.join(self.TRAIN, "snapshot-detector-130.pt"))
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--detector-snapshot is for a native top-down", r.stderr)


if __name__ == "__main__":
    unittest.main()
