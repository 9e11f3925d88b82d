#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed_*), small valid inputs.

Usage: make_corpus.py [GOLDEN_CONFIG_YAML]   (default: ../shared/golden/r50_bu_single/config.yaml)

The committed corpus was made with this script; rerunning it rewrites the seed_* files only
(crash regressions, named regression_*, are kept).
"""
import io, os, pickle, subprocess, sys, tempfile, zipfile
from collections import OrderedDict

import numpy as np
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "golden",
                                                            "r50_bu_single", "config.yaml")
TINY_CONFIG = """method: bu
net_type: resnet_50
metadata:
  bodyparts: [nose, tail]
  unique_bodyparts: []
  individuals: [animal]
data:
  colormode: RGB
  inference: {normalize_images: true, auto_padding: {pad_width_divisor: 32, pad_height_divisor: 32}}
model:
  backbone: {type: ResNet, output_stride: 16}
  heads:
    bodypart:
      predictor: {type: HeatmapPredictor, apply_sigmoid: false, location_refinement: true, locref_std: 7.2801}
      heatmap_config: {strides: [2]}
"""


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def saved(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def main():
    torch.manual_seed(0)
    with open(GOLDEN) as f:
        golden_text = f.read()
    golden = yaml.safe_load(golden_text)
    out("fuzz_config", "seed_tiny.yaml", TINY_CONFIG.encode())
    out("fuzz_config", "seed_deeplabcut.yaml", golden_text.encode())

    pose = OrderedDict([("a.weight", torch.randn(2, 3)), ("a.bias", torch.arange(3)),
                        ("b", torch.randn(2, 2).t()), ("c", torch.zeros(0, 4, dtype=torch.float64))])
    blobs = {
        "seed_export.pt": saved({"config": yaml.safe_load(TINY_CONFIG), "pose": pose}),
        "seed_golden_config.pt": saved({"config": golden, "pose": OrderedDict([("w", torch.ones(1))])}),
        "seed_snapshot.pt": saved({"model": pose, "metadata": {"epoch": 5, "loss": 0.25}}),
    }
    for name, blob in blobs.items():
        out("fuzz_model_file", name, blob)
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            out("fuzz_pickle", name.replace(".pt", ".pkl"), z.read(pkl))
    # A deflated archive (torch.save stores; other zip writers compress).
    with zipfile.ZipFile(io.BytesIO(blobs["seed_export.pt"])) as src:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
            for n in src.namelist():
                dst.writestr(n, src.read(n))
    out("fuzz_model_file", "seed_deflated.pt", buf.getvalue())
    plain = {"s": "text", "b": b"\x00\x01", "f": 1.5, "i": [1, -2, 2**40, 2**70 // 2**10], "t": (None, True),
             "n": {"deep": [[{"x": 1}]]}}
    for proto in (2, 4):
        out("fuzz_pickle", f"seed_plain_p{proto}.pkl", pickle.dumps(plain, protocol=proto))
    # A prediction pickle with numpy arrays (C and Fortran order) and numpy scalars.
    arrays = {0: [np.arange(8, dtype=np.float64).reshape(2, 4)], 1: np.ones((1, 2, 4), np.float32),
              "frame01": {"coordinates": ([np.asfortranarray(np.ones((2, 2)))],), "confidence": [np.ones((2, 1))]},
              "metadata": {"nms radius": np.float64(5.0), "n": np.int64(3), "ok": np.bool_(True)}}
    # Protocol 2 (torch.save's: bytes as latin-1 text) and 5 (DeepLabCut's pickles: _frombuffer).
    for proto in (2, 4, 5):
        out("fuzz_pickle", f"seed_numpy_p{proto}.pkl", pickle.dumps(arrays, protocol=proto))

    # Tiny videos, 4 frames of 32x24, in the codecs and containers the tests use.
    frames = np.random.default_rng(1).integers(0, 256, size=(4, 24, 32, 3)).astype(np.uint8).tobytes()
    specs = [("h264.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2"]),
             ("mpeg4.avi", ["-c:v", "mpeg4"]), ("mjpeg.avi", ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
             ("ffv1.mkv", ["-c:v", "ffv1"])]
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in specs:
            path = os.path.join(tmp, name)
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "32x24",
                            "-r", "30", "-i", "-", "-map_metadata", "-1", "-fflags", "+bitexact",
                            "-flags:v", "+bitexact"] + args + [path], input=frames, check=True)
            with open(path, "rb") as f:
                out("fuzz_video", "seed_" + name, f.read())


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
