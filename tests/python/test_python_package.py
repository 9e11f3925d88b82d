"""Tests of the Python package `posebatch` (pybind11) against the CLI's files.

Run by ctest (python_package) with PYTHONPATH=build/python, POSEBATCH_BIN (the CLI) and
POSEBATCH_FIXTURES set; Debian's /usr/bin/python3 with python3-torch, -pandas, -tables,
-pytest (and -tqdm, optional). Tiny models only: the whole file takes seconds.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import posebatch

BIN = os.environ["POSEBATCH_BIN"]
FIX = os.environ["POSEBATCH_FIXTURES"]
GOOD = os.path.join(FIX, "models", "good")            # TorchScript bottom-up, 4 bodyparts
PAF = os.path.join(FIX, "models", "synth_paf")        # multi-animal (3 individuals + a unique bodypart)
INDEX_VIDEO = os.path.join(FIX, "videos", "index_h264.mp4")    # 75 frames, 320x240
PAF_VIDEO = os.path.join(FIX, "videos", "dark_bright.mp4")     # 5 frames, 64x64
SCORER_GOOD = "DLC_TinyTest_good"                     # DefaultScorer of models/good


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def decode_rgb(video: str) -> np.ndarray:
    """All frames as (N, H, W, 3) uint8, converted as the library converts them (swscale bicubic)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", video],
                           capture_output=True, text=True, check=True)
    w, h = map(int, probe.stdout.strip().split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-sws_flags", "bicubic", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_one_libtorch_in_process():
    """`import torch, posebatch` (either order) maps one libtorch_cpu.so: the package shares
    python3-torch's LibTorch."""
    for imports in ("import torch, posebatch", "import posebatch, torch"):
        code = textwrap.dedent(f"""
            {imports}
            paths = set()
            with open("/proc/self/maps") as f:
                for line in f:
                    p = line.split()[-1]
                    if "libtorch_cpu.so" in p:
                        paths.add(p)
            print(sorted(paths))
            assert len(paths) == 1, paths
            torch.zeros(2) + 1  # both work
            """)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("model,video,batch", [(GOOD, INDEX_VIDEO, 8), (PAF, PAF_VIDEO, 2)],
                         ids=["single", "multi"])
def test_analyze_videos_matches_cli(tmp_path, model, video, batch):
    """Same model, video and options: the package's files equal the CLI's, byte for byte."""
    cli_dir, py_dir = tmp_path / "cli", tmp_path / "py"
    # five frames are too few to stitch: test_analyze_videos_tracks tracks
    r = cli("analyze", model, video, "--dest", str(cli_dir), "--csv", "-b", str(batch), "-q", "--no-track")
    assert r.returncode == 0, r.stderr
    scorer = posebatch.analyze_videos(model, video, destfolder=py_dir, save_as_csv=True, batch_size=batch,
                                      progress=False, auto_track=False)
    stem = os.path.splitext(os.path.basename(video))[0] + scorer
    cli_files = sorted(p.name for p in cli_dir.iterdir())
    assert sorted(p.name for p in py_dir.iterdir()) == cli_files
    assert stem + ".h5" in cli_files and stem + ".csv" in cli_files
    for name in cli_files:
        if name.endswith("_meta.pickle"):
            continue  # holds run times
        assert read_bytes(str(py_dir / name)) == read_bytes(str(cli_dir / name)), name
    df = posebatch.read(str(py_dir / (stem + ".h5")))
    from_csv = posebatch.read(str(py_dir / (stem + ".csv")))
    assert df.columns.equals(from_csv.columns)
    np.testing.assert_array_equal(df.to_numpy(), from_csv.to_numpy().astype(np.float32))
    # Outputs exist: a second call skips the video and returns the same scorer.
    assert posebatch.analyze_videos(model, video, destfolder=py_dir, batch_size=batch, progress=False,
                                    auto_track=False) == scorer


def still_video(path: str, frames: int = 24) -> str:
    """Dark frames, then bright ones (synth_paf's two poses): animals still for frames/2 frames."""
    half = frames // 2
    data = b"".join(np.full((64, 64, 3), 255 * k, np.uint8).tobytes() for k in [0] * half + [1] * half)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64",
                    "-r", "30", "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", path], input=data, check=True)
    return path


def test_analyze_videos_tracks(tmp_path):
    """auto_track (DeepLabCut's default): the package tracks as the CLI does, byte for byte;
    animal_names and n_tracks name and count the tracks; auto_track=False stops at the assemblies."""
    video = still_video(str(tmp_path / "still.mp4"))
    cli_dir, py_dir = tmp_path / "cli", tmp_path / "py"
    r = cli("analyze", PAF, video, "--dest", str(cli_dir), "--csv", "-q")
    assert r.returncode == 0, r.stderr
    scorer = posebatch.analyze_videos(PAF, video, destfolder=py_dir, save_as_csv=True, progress=False)
    stem = "still" + scorer
    for suffix in ("_el.pickle", "_el.h5", "_el.csv"):
        assert read_bytes(str(py_dir / (stem + suffix))) == read_bytes(str(cli_dir / (stem + suffix))), suffix
    tracks = pd.read_hdf(py_dir / (stem + "_el.h5"), "tracks")
    assert list(tracks.columns.get_level_values("individuals").unique()) == ["mus1", "mus2", "mus3", "single"]
    named = tmp_path / "named"
    posebatch.analyze_videos(PAF, video, destfolder=named, progress=False, animal_names=["a", "b", "c"])
    df = pd.read_hdf(named / (stem + "_el.h5"), "tracks")
    assert list(df.columns.get_level_values("individuals").unique()) == ["a", "b", "c", "single"]
    np.testing.assert_array_equal(df.to_numpy(), tracks.to_numpy())
    two = tmp_path / "two"
    posebatch.analyze_videos(PAF, video, destfolder=two, progress=False, n_tracks=2)
    df = pd.read_hdf(two / (stem + "_el.h5"), "tracks")
    assert list(df.columns.get_level_values("individuals").unique()) == ["mus1", "mus2", "single"]
    with pytest.raises(ValueError, match="n_tracks"):
        posebatch.analyze_videos(PAF, video, destfolder=tmp_path / "bad", progress=False, n_tracks=2,
                                 animal_names=["a"])
    untracked = tmp_path / "untracked"
    posebatch.analyze_videos(PAF, video, destfolder=untracked, progress=False, auto_track=False)
    assert not [n for n in os.listdir(untracked) if "_el" in n]
    # A video too short to stitch: the error names it and why; its detections are kept.
    with pytest.raises(ValueError, match="Tracklets are empty"):
        posebatch.analyze_videos(PAF, PAF_VIDEO, destfolder=tmp_path / "short", progress=False)
    assert os.path.exists(tmp_path / "short" / ("dark_bright" + scorer + ".h5"))


def test_stitch_tracklets_as_deeplabcut(tmp_path):
    """DeepLabCut's signature on a project's config.yaml: the golden three-mice tracklets become
    DeepLabCut's own tracked .h5 and .csv (and with n_tracks=2, its fallback's)."""
    import glob
    import shutil
    case = os.path.join(os.environ["POSEBATCH_GOLDEN"], "tracking", "three_mice")
    config = os.path.join(case, "project", "config.yaml")
    video = os.path.join(case, "project", "videos", "threemice.mp4")
    prefix = glob.glob(os.path.join(case, "*_el.pickle"))[0][: -len("_el.pickle")]
    name = os.path.basename(prefix)
    shutil.copy(prefix + "_el.pickle", tmp_path)
    (path,) = posebatch.stitch_tracklets(config, [video], destfolder=str(tmp_path), save_as_csv=True)
    assert path == str(tmp_path / (name + "_el.h5"))
    pd.testing.assert_frame_equal(pd.read_hdf(path, "tracks"), pd.read_hdf(prefix + "_el.h5", "tracks"),
                                  check_exact=True)
    assert read_bytes(str(tmp_path / (name + "_el.csv"))) == read_bytes(prefix + "_el.csv")
    (path,) = posebatch.stitch_tracklets(config, [video], destfolder=str(tmp_path), n_tracks=2)
    pd.testing.assert_frame_equal(pd.read_hdf(path, "tracks"),
                                  pd.read_hdf(os.path.join(case, "n_tracks2", name + "_el.h5"), "tracks"),
                                  check_exact=True)
    with pytest.raises(ValueError, match="weight_func"):
        posebatch.stitch_tracklets(config, [video], weight_func=lambda a, b: 0)
    with pytest.raises(FileNotFoundError, match="_bx.pickle"):
        posebatch.stitch_tracklets(config, [video], destfolder=str(tmp_path), track_method="box")


def test_folder_and_videotype(tmp_path):
    """A folder is scanned for videos (videotype filters), DeepLabCut's outputs left out."""
    for name in ("a.mp4", "b.avi", "a_labeled.mp4"):
        os.symlink(INDEX_VIDEO, tmp_path / name)
    found = posebatch.collect_videos(str(tmp_path))
    assert [os.path.basename(v) for v in found] == ["a.mp4", "b.avi"]
    assert [os.path.basename(v) for v in posebatch.collect_videos(str(tmp_path), "avi")] == ["b.avi"]
    seen = []
    scorer = posebatch.analyze_videos(GOOD, str(tmp_path), videotype="avi",
                                      progress=lambda video, done, total: seen.append((video, done, total)))
    assert scorer == SCORER_GOOD
    assert os.path.exists(tmp_path / ("b" + scorer + ".h5"))
    assert not os.path.exists(tmp_path / ("a" + scorer + ".h5"))
    assert seen and seen[-1][1] == seen[-1][2] == 75


def test_predictor_matches_cli(tmp_path):
    """Frames in memory get the numbers of the CLI's .h5 rows for the same frames."""
    r = cli("analyze", GOOD, INDEX_VIDEO, "--dest", str(tmp_path), "-b", "8", "-q")
    assert r.returncode == 0, r.stderr
    rows = pd.read_hdf(tmp_path / ("index_h264" + SCORER_GOOD + ".h5")).to_numpy()
    frames = decode_rgb(INDEX_VIDEO)
    assert frames.shape == (75, 240, 320, 3)

    predictor = posebatch.Predictor(GOOD, batch_size=8)
    assert predictor.bodyparts == ["nose", "ear_l", "ear_r", "tail"]
    assert predictor.individuals == ["animal"]
    poses = predictor.predict(frames)
    assert poses.shape == (75, 1, 4, 3) and poses.dtype == np.float32
    np.testing.assert_array_equal(poses.reshape(75, -1), rows)

    # One frame (H, W, 3): (individuals, keypoints, 3). oneDNN may pick other convolution
    # kernels for a batch of one than for eight (identical here, but not promised), so allow
    # float32 rounding of coordinates up to 320 px.
    one = predictor.predict(frames[10])
    assert one.shape == (1, 4, 3)
    np.testing.assert_allclose(one.reshape(-1), rows[10], rtol=0, atol=1e-3)
    # A strided (non-contiguous) view is taken as its values.
    strided = np.zeros((8, 240, 320, 6), np.uint8)
    strided[..., ::2] = frames[:8]
    assert not strided[..., ::2].flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(predictor.predict(strided[..., ::2]), poses[:8])


def test_predictor_multi_animal_and_sizes(tmp_path):
    """Multi-animal rows are (individuals, keypoints, 3) with unique bodyparts apart, equal to
    the CLI's; frames of another size in a later call work."""
    frames = decode_rgb(PAF_VIDEO)
    predictor = posebatch.Predictor(PAF, batch_size=2)
    assert predictor.individuals == ["mus1", "mus2", "mus3"]
    assert len(predictor.unique_bodyparts) == 1
    poses, unique = predictor.predict(frames, unique=True)
    assert poses.shape == (5, 3, 4, 3) and unique.shape == (5, 1, 3)
    with_unique = np.concatenate([poses.reshape(5, -1), unique.reshape(5, -1)], axis=1)
    r = cli("analyze", PAF, PAF_VIDEO, "--dest", str(tmp_path), "-b", "2", "-q", "--no-track")
    assert r.returncode == 0, r.stderr
    df = pd.read_hdf(tmp_path / ("dark_bright" + predictor.scorer + ".h5"))
    np.testing.assert_array_equal(with_unique, df.to_numpy())
    bigger = np.concatenate([frames, frames], axis=2)  # 64 x 128
    assert predictor.predict(bigger).shape == (5, 3, 4, 3)
    assert predictor.predict(frames[0]).shape == (3, 4, 3)


def make_project(root, snapshots_from=os.path.join(FIX, "dlc", "train")):
    """A DeepLabCut project (Task 'mice', date 'Jan1', TrainingFraction 0.95, iteration 2)
    whose shuffle 1 holds the fixture training folder's snapshots."""
    (root / "config.yaml").write_text(textwrap.dedent("""\
        Task: mice
        scorer: tester
        date: Jan1
        multianimalproject: false
        project_path: /somewhere/else
        iteration: 2
        TrainingFraction: [0.95]
        snapshotindex: -1
        batch_size: 4
        """))
    train = root / "dlc-models-pytorch" / "iteration-2" / "miceJan1-trainset95shuffle1" / "train"
    train.mkdir(parents=True)
    for name in os.listdir(snapshots_from):
        os.symlink(os.path.join(snapshots_from, name), train / name)
    return root / "config.yaml", train


def test_project_layout_resolves(tmp_path):
    """config.yaml + shuffle find the model folder and DeepLabCut's scorer and snapshot."""
    config, train = make_project(tmp_path)
    resolved = posebatch.resolve_model(config)
    assert resolved.model_path == str(train)
    assert os.path.basename(resolved.snapshot) == "snapshot-best-005.pt"  # best goes last: index -1
    assert resolved.scorer == "DLC_Resnet50_miceJan1shuffle1_snapshot_best-5"
    assert resolved.batch_size == 4
    first = posebatch.resolve_model(config, snapshot_index=0)
    assert os.path.basename(first.snapshot) == "snapshot-010.pt"
    assert first.scorer == "DLC_Resnet50_miceJan1shuffle1_snapshot_10"

    # A short, small video: the snapshot is a ResNet-50.
    video = tmp_path / "videos" / "clip.mp4"
    video.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "3",
                    "-pix_fmt", "yuv420p", str(video)], check=True)
    scorer = posebatch.analyze_videos(str(config), str(video.parent), progress=False)
    assert scorer == resolved.scorer
    df = posebatch.read(str(video.parent / ("clip" + scorer + ".h5")))
    assert df.shape == (3, 3 * len(df.columns.get_level_values("bodyparts").unique()))
    assert df.columns.get_level_values("scorer")[0] == scorer

    # The other snapshot has a wrong shape: the error names it.
    with pytest.raises(posebatch.Error, match="snapshot-010.pt"):
        posebatch.analyze_videos(str(config), str(video), snapshot_index=0, destfolder=tmp_path / "o",
                                 progress=False)
    with pytest.raises(FileNotFoundError, match="shuffle 2"):
        posebatch.analyze_videos(str(config), str(video), shuffle=2, progress=False)
    with pytest.raises(ValueError, match="trainingsetindex"):
        posebatch.analyze_videos(str(config), str(video), trainingsetindex=3, progress=False)


def test_errors_name_the_file(tmp_path):
    missing_model = str(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        posebatch.analyze_videos(missing_model, INDEX_VIDEO, progress=False)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        posebatch.Predictor(missing_model)
    missing_video = str(tmp_path / "missing.mp4")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        posebatch.analyze_videos(GOOD, missing_video, progress=False)
    for bad in (0, -3, 2.5, "eight"):
        with pytest.raises(ValueError, match="batch_size"):
            posebatch.analyze_videos(GOOD, INDEX_VIDEO, batch_size=bad, progress=False)
        with pytest.raises(ValueError, match="batch_size"):
            posebatch.Predictor(GOOD, batch_size=bad)
    not_a_video = os.path.join(FIX, "not_a_video.mp4")
    with pytest.raises(posebatch.Error, match="not_a_video.mp4") as info:
        posebatch.analyze_videos(GOOD, not_a_video, destfolder=tmp_path, progress=False)
    assert isinstance(info.value, RuntimeError) and info.value.code in ("corrupt", "io_error")
    assert not [p for p in os.listdir(tmp_path) if p.startswith("not_a_video")]
    with pytest.raises((ValueError, FileNotFoundError, posebatch.Error), match="bodyparts"):
        posebatch.Predictor(os.path.join(FIX, "models", "missing_field"))
    predictor = posebatch.Predictor(GOOD)
    with pytest.raises(TypeError, match="uint8"):
        predictor.predict(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(np.zeros((48, 64), np.uint8))
    with pytest.raises(FileNotFoundError):
        posebatch.read(str(tmp_path / "none.h5"))
    with pytest.raises(ValueError, match="precision"):
        posebatch.analyze_videos(GOOD, INDEX_VIDEO, precision="int4", progress=False)
    for precision in ("bf16", "int8"):
        with pytest.raises((ValueError, posebatch.Error), match="not TorchScript"):
            posebatch.Predictor(GOOD, precision=precision)
    # Checked by the engine's option table (the CLI's checks), naming the option.
    with pytest.raises(ValueError, match="frames: STOP must be > START"):
        posebatch.analyze_videos(GOOD, INDEX_VIDEO, frames=(5, 3), destfolder=tmp_path, progress=False)
    with pytest.raises(ValueError, match="crop: expects x1,x2,y1,y2"):
        posebatch.analyze_videos(GOOD, INDEX_VIDEO, cropping=[10, 5, 0, 8], destfolder=tmp_path, progress=False)
    with pytest.raises(ValueError, match="device: expects cpu, cuda or cuda:N"):
        posebatch.Predictor(GOOD, device="gpu")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".h5")]


def test_top_down_project_loads_its_detector_snapshot(tmp_path):
    """analyze_images / Predictor on a top-down project's config.yaml (fixtures/projects/td_golden):
    the detector snapshot DeepLabCut would pick is loaded (before, the scorer named it but the run
    asked for boxes), and detector_snapshot_index picks another, as DeepLabCut's argument does."""
    config = os.path.join(FIX, "projects", "td_golden", "config.yaml")
    golden = os.environ["POSEBATCH_GOLDEN"]
    frames = [os.path.join(golden, "td_ssdlite_r50", f"frame{i}.png") for i in (0, 1)]
    export = os.path.join(FIX, "dlc", "td_ssdlite_r50.pt")
    want = posebatch.analyze_images(export, frames, destfolder=tmp_path / "export", progress=False)
    scorer = posebatch.analyze_images(config, frames, destfolder=tmp_path / "project", progress=False)
    assert scorer == "DLC_Resnet50_goldenNov24shuffle1_detector_best-120_snapshot_best-200"
    a = pd.read_hdf(tmp_path / "export" / f"image_predictions_{want}.h5").to_numpy()
    b = pd.read_hdf(tmp_path / "project" / f"image_predictions_{scorer}.h5").to_numpy()
    np.testing.assert_array_equal(a, b)
    other = posebatch.analyze_images(config, frames, detector_snapshot_index=0, destfolder=tmp_path / "d0",
                                     progress=False)
    assert other == "DLC_Resnet50_goldenNov24shuffle1_detector_50_snapshot_best-200"
    c = pd.read_hdf(tmp_path / "d0" / f"image_predictions_{other}.h5").to_numpy()
    assert not np.array_equal(a, c)
    from PIL import Image
    rgb = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames])
    poses = posebatch.Predictor(config, batch_size=4).predict(rgb)
    np.testing.assert_array_equal(poses, posebatch.Predictor(export, batch_size=4).predict(rgb))


def test_convert_detections2tracklets_as_deeplabcut(tmp_path):
    """DeepLabCut's signature on a project's config.yaml: the golden three-mice predictions in
    destfolder become DeepLabCut's own tracklet pickles (ellipse by the project's default, box)."""
    import glob
    import pickle
    import shutil
    case = os.path.join(os.environ["POSEBATCH_GOLDEN"], "tracking", "three_mice")
    config = os.path.join(case, "project", "config.yaml")
    video = os.path.join(case, "project", "videos", "threemice.mp4")
    for f in glob.glob(os.path.join(case, "*_full.pickle")) + glob.glob(os.path.join(case, "*_assemblies.pickle")) + \
            glob.glob(os.path.join(case, "*_meta.pickle")):
        shutil.copy(f, tmp_path)
    for method, suffix in (("", "_el"), ("box", "_bx")):
        (path,) = posebatch.convert_detections2tracklets(config, [video], destfolder=str(tmp_path), track_method=method)
        name = "threemiceDLC_Resnet50_trimouseNov24shuffle1_snapshot_best-200" + suffix + ".pickle"
        assert path == os.path.join(str(tmp_path), name)
        with open(path, "rb") as f:
            ours = pickle.load(f)
        with open(os.path.join(case, name), "rb") as f:
            theirs = pickle.load(f)
        assert [str(k) for k in ours] == [str(k) for k in theirs]
        for key in theirs:
            if key == "header":
                assert ours[key].equals(theirs[key])
                continue
            assert list(ours[key]) == list(theirs[key])
            for frame in theirs[key]:
                np.testing.assert_array_equal(ours[key][frame], theirs[key][frame])
    with pytest.raises(ValueError, match="ignore_bodyparts"):
        posebatch.convert_detections2tracklets(config, [video], ignore_bodyparts=["snout"])
    with pytest.raises(FileNotFoundError, match="_meta.pickle"):
        posebatch.convert_detections2tracklets(config, [video], destfolder=str(tmp_path / "none"))


INTERRUPT_CHILD = textwrap.dedent("""
    import sys, posebatch
    model, short, long, dest = sys.argv[1:5]
    def progress(video, done, total):
        print("PROGRESS", video, done, total, flush=True)
    try:
        posebatch.analyze_videos(model, [short, long], destfolder=dest, save_as_csv=True, batch_size=1,
                                 progress=progress)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(0)
    print("FINISHED", flush=True)
    """)


def test_sigint_stops_without_partial_files(tmp_path):
    """SIGINT (Ctrl-C, a Jupyter interrupt) during analyze_videos: KeyboardInterrupt, the video
    in progress leaves no file, the finished one keeps its outputs."""
    short = tmp_path / "a_short.mp4"
    long = tmp_path / "b_long.mp4"
    os.symlink(PAF_VIDEO, short)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "3000",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(long)], check=True)
    dest = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", INTERRUPT_CHILD, GOOD, str(short), str(long), str(dest)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in child.stdout:
            lines.append(line)
            if line.startswith("PROGRESS") and "b_long" in line and int(line.split()[2]) > 0:
                child.send_signal(signal.SIGINT)
                break
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    lines.append(out)
    assert child.returncode == 0, "".join(lines) + err
    assert "INTERRUPTED" in out, "".join(lines) + err
    names = sorted(os.listdir(dest))
    assert "a_short" + SCORER_GOOD + ".h5" in names and "a_short" + SCORER_GOOD + ".csv" in names
    assert not [n for n in names if n.startswith("b_long") and not n.endswith(".resume")], names
    assert not [n for n in names if n.endswith(".part") or ".tmp" in n], names


def test_predict_releases_the_gil():
    """Another Python thread runs while predict works. Counted, not timed: predict is given
    enough frames to last at least 0.5 s (a fast machine made the old 300 frames finish in under
    50 ms, and the test then checked nothing), and the ticker must run at least twice in it."""
    import threading

    predictor = posebatch.Predictor(GOOD, batch_size=8)
    frames = decode_rgb(INDEX_VIDEO)
    while True:
        start = time.monotonic()
        predictor.predict(frames)
        if time.monotonic() - start >= 0.5:
            break
        frames = np.concatenate([frames, frames])
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    t.start()
    start = time.monotonic()
    predictor.predict(frames)
    end = time.monotonic()
    stop.set()
    t.join()
    during = [x for x in ticks if start < x < end]
    assert len(during) >= 2, (end - start, len(during))


HEAP_CHILD = textwrap.dedent("""
    import sys
    import posebatch
    posebatch.analyze_videos(sys.argv[1], sys.argv[2], videotype=".mp4", destfolder=sys.argv[3],
                             save_as_csv=True, batch_size=8, threads=1)
""")


def test_analyze_videos_live_heap_does_not_grow_with_the_number_of_videos(tmp_path):
    """Issue 31: the live heap after each of 40 videos analysed by one analyze_videos call (the
    library's POSEBATCH_HEAP_TRACE hook, heap_trace.py), fitted with a line: no growth per video
    beyond 64 KiB (a decoded frame kept per video is 225 KiB here)."""
    sys.path.insert(0, os.path.dirname(__file__))
    import heap_trace
    short = tmp_path / "short.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                    "-frames:v", "30", "-c:v", "libx264", "-preset", "ultrafast", str(short)], check=True)
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(40):
        (videos / f"v{i:02d}.mp4").symlink_to(short)
    r, events = heap_trace.traced([sys.executable, "-c", HEAP_CHILD, GOOD, str(videos), str(tmp_path / "out")])
    assert r.returncode == 0, r.stderr
    inputs = events["input"]
    assert [n for n, _ in inputs] == list(range(1, 41))
    per_video = heap_trace.slope(inputs, skip=10)
    print(f"analyze_videos live heap: {per_video / 1024:.1f} KiB per video over 40 videos")
    assert per_video < 64 * 1024
