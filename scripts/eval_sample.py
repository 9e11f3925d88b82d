#!/usr/bin/python3
"""Compares posebatch's predictions with a video's ground truth keypoints.

Usage: eval_sample.py RESULTS.h5 GROUND_TRUTH.csv [--max-median PX]

RESULTS.h5: what `posebatch analyze` wrote (DeepLabCut's DataFrame: columns
scorer / bodyparts / coords with x, y, likelihood; index = frame numbers).
GROUND_TRUTH.csv: header "frame,<bodypart>_x,<bodypart>_y,...", one row per frame
(scripts/make_sample.py writes samples/synth/ground_truth.csv in this format).

Prints the median and 90th percentile of the Euclidean error (pixels) per bodypart and over
all keypoints. Exit status 1 when the frames of the two files differ, a bodypart of the
ground truth is missing from the results, or the overall median exceeds --max-median.
"""
import argparse
import sys

import numpy as np
import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("h5")
    parser.add_argument("ground_truth")
    parser.add_argument("--max-median", type=float, default=3.0, help="pixels (default 3.0)")
    args = parser.parse_args()

    pred = pd.read_hdf(args.h5)
    truth = pd.read_csv(args.ground_truth, index_col="frame")
    if len(pred.columns.levels[0]) != 1:
        print(f"{args.h5}: expected one scorer, found {list(pred.columns.levels[0])}")
        return 1
    pred = pred.droplevel(0, axis=1)
    if list(pred.index) != list(truth.index):
        print(f"frames differ: {args.h5} has {len(pred)} frames ({pred.index.min()}..{pred.index.max()}), "
              f"{args.ground_truth} has {len(truth)} ({truth.index.min()}..{truth.index.max()})")
        return 1

    bodyparts = [c[:-2] for c in truth.columns if c.endswith("_x")]
    found = set(pred.columns.get_level_values(0))
    missing = [b for b in bodyparts if b not in found]
    if missing:
        print(f"{args.h5}: no predictions for bodyparts {missing} (has {sorted(found)})")
        return 1

    errors = {}
    for b in bodyparts:
        dx = pred[(b, "x")].to_numpy(np.float64) - truth[f"{b}_x"].to_numpy(np.float64)
        dy = pred[(b, "y")].to_numpy(np.float64) - truth[f"{b}_y"].to_numpy(np.float64)
        errors[b] = np.hypot(dx, dy)
    everything = np.concatenate(list(errors.values()))

    print(f"{len(truth)} frames; error in pixels (median / p90):")
    for b, e in errors.items():
        print(f"  {b:<12} {np.median(e):6.2f} / {np.percentile(e, 90):6.2f}")
    median = float(np.median(everything))
    print(f"  {'all':<12} {median:6.2f} / {np.percentile(everything, 90):6.2f}")
    if not np.isfinite(median) or median > args.max_median:
        print(f"FAIL: median error {median:.2f} px exceeds {args.max_median} px")
        return 1
    print(f"OK: median error {median:.2f} px <= {args.max_median} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
