#!/usr/bin/python3
"""What reduced precision costs in accuracy, on DeepLabCut's real open-field frames.

Runs `posebatch analyze` on the 116 human-labelled frames of ../shared/real with each precision
(float32 first, the reference) and prints one markdown row per precision: median error against
the human labels (all frames and every 8th, DeepLabCut's test split as in test_parity), its
change from float32, and each keypoint's shift from float32 (median, p99, max) and the largest
score change. Speed is posebatch-bench's job (`--precision`).

Usage: precision_accuracy.py [--bin build/posebatch] [--model build/fixtures/dlc/real.pt]
                             [--real ../shared/real] [--precisions float32,bf16,int8] [--layout auto|nchw|nhwc]
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def analyze(binary, model, frames, precision, extra):
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([binary, "analyze", model, frames, "--dest", d, "-b", "2", "--precision", precision, *extra],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"posebatch analyze --precision {precision} failed:\n{r.stderr}")
        notes = [line for line in r.stderr.splitlines() if "note" in line]
        h5 = [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".h5")][0]
        df = pd.read_hdf(h5, "predictions")
    return {os.path.basename(p): row for p, row in zip(df.index, df.to_numpy())}, notes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(HERE)
    ap.add_argument("--bin", default=os.path.join(root, "build", "posebatch"))
    ap.add_argument("--model", default=os.path.join(root, "build", "fixtures", "dlc", "real.pt"))
    ap.add_argument("--real", default=os.path.join(root, "..", "shared", "real"))
    ap.add_argument("--precisions", default="float32,bf16,int8")
    ap.add_argument("--layout", choices=["auto", "nchw", "nhwc"], default="auto",
                    help="float32 rows: analyze's default layout, --no-channels-last or --channels-last "
                         "(bf16 and int8 always run NHWC)")
    a = ap.parse_args()
    frames = os.path.join(a.real, "openfield-Pranav-2018-10-30", "labeled-data", "m4s1")
    names = json.load(open(os.path.join(a.real, "model", "labeled_frames.json")))
    labels = pd.read_hdf(os.path.join(frames, "CollectedData_Pranav.h5"))
    label_names = [str(i[-1]) if isinstance(i, tuple) else os.path.basename(str(i)) for i in labels.index]
    human = labels.to_numpy().reshape(len(labels), -1, 2)
    row_of = {n: i for i, n in enumerate(label_names)}

    results = {}
    print(f"model {a.model}, {len(names)} labelled frames of {frames}\n")
    print("| precision | median error px (all) | (test frames) | change vs float32 px | shift vs float32 px: "
          "median | p99 | max | max score change |")
    print("|:---|---:|---:|---:|---:|---:|---:|---:|")
    for precision in a.precisions.split(","):
        extra = {"auto": [], "nchw": ["--no-channels-last"], "nhwc": ["--channels-last"]}[a.layout]
        by_name, notes = analyze(a.bin, a.model, frames, precision, extra)
        got = np.stack([by_name[n] for n in names]).reshape(len(names), -1, 3)
        err = np.stack([np.linalg.norm(got[k, :, :2] - human[row_of[n]], axis=1) for k, n in enumerate(names)])
        ok = ~np.isnan(err)
        test = np.zeros_like(ok)
        test[::8] = True
        med_all, med_test = np.median(err[ok]), np.median(err[ok & test])
        results[precision] = got
        ref = results.get("float32")
        if ref is None or precision == "float32":
            row = [precision, f"{med_all:.3f}", f"{med_test:.3f}", "-", "-", "-", "-", "-"]
            base = med_all
        else:
            shift = np.linalg.norm(got[:, :, :2] - ref[:, :, :2], axis=2).ravel()
            ds = np.abs(got[:, :, 2] - ref[:, :, 2]).max()
            row = [precision, f"{med_all:.3f}", f"{med_test:.3f}", f"{med_all - base:+.3f}",
                   f"{np.median(shift):.3f}", f"{np.percentile(shift, 99):.3f}", f"{shift.max():.3f}", f"{ds:.2e}"]
        print("| " + " | ".join(row) + " |")
        for n in notes:
            print(f"  ({precision}: {n})")


if __name__ == "__main__":
    main()
