#!/usr/bin/python3
"""A CTD model for the tracking benchmark: the golden CTD RTMPose-s export with its SimCC
classifiers (cls_x, cls_y) scaled, so that its scores are those of a model that finds animals.

The golden model's random weights give SimCC logits so small that every rescored pose scores 0:
DeepLabCut's tracker then keeps no track and reruns the bottom-up model on every frame. Scaling
the last layers by 1000 leaves the network and the argmax (the keypoints) as they are and
gives scores of 0.1-0.8, so that tracks live and the bottom-up model runs as DeepLabCut's rules
say (first frame, then when tracks are lost).

Usage: /usr/bin/python3 bench/make_ctd_tracking_model.py CTD_IN.pt CTD_OUT.pt [--scale 1000]
"""
import argparse

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--scale", type=float, default=1000.0)
    a = ap.parse_args()
    export = torch.load(a.src, map_location="cpu")
    for axis in ("x", "y"):
        export["pose"][f"heads.bodypart.cls_{axis}.weight"] *= a.scale
    torch.save(export, a.dst)


if __name__ == "__main__":
    main()
