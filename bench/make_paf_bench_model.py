#!/usr/bin/python3
"""A multi-animal PAF model for posebatch-bench with a trained model's number of candidate
peaks.

The golden r50_paf_multi export (ResNet-50 + DLCRNetHead, random weights; rebuild it with
../shared/golden/make_model.py) has nearly flat heatmaps (logits about 0 +- 0.02): every
faint bump passes DeepLabCut's 0.01 threshold, about a thousand candidate peaks per bodypart
in a 640x480 frame. A trained model finds about one per animal and bodypart. This script
scales the heatmap head's last layer (DLCRNetHead's heatmap deconvolution: logits become
scale * logits + shift), so that only the strongest bumps stay above the threshold: the same
network and cost per forward pass, few candidates. posebatch-bench prints the peaks per
bodypart it gets (its grouping table). The PAFs stay random: few animals are assembled.

Usage: make_paf_bench_model.py IN.pt OUT.pt [--scale 50] [--shift -9]
"""
import argparse

import torch

p = argparse.ArgumentParser()
p.add_argument("src")
p.add_argument("dst")
p.add_argument("--scale", type=float, default=50.0, help="multiplies the heatmap logits")
p.add_argument("--shift", type=float, default=-9.0, help="then added to them")
a = p.parse_args()
export = torch.load(a.src, map_location="cpu")
layer = "heads.bodypart.heatmap_head.deconv_layers.0."
pose = export["pose"]
pose[layer + "weight"] = pose[layer + "weight"] * a.scale
pose[layer + "bias"] = pose[layer + "bias"] * a.scale + a.shift
torch.save(export, a.dst)
print(f"{a.dst}: heatmap logits x {a.scale} + {a.shift}")
