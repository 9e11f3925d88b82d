#!/usr/bin/python3
"""A bottom-up conditions model for the CTD benchmark: the golden DEKR-W18 case (3 animals)
with a fifth bodypart, so that its poses fit the golden CTD RTMPose-s case (5 bodyparts).

The fifth keypoint gets its own DEKR offset branch (a copy of the fourth's structure), one more
heatmap channel and 15 more offset-transition channels; the weights follow make_model.py's
deterministic rule, the calibrated batch-norm statistics are extended the same way (the fourth
keypoint's are reused for the fifth). Random weights: the poses mean nothing, but DEKR always
returns its 3 animals, and the heatmap bias is raised to 0.5 so that their scores pass the CTD
filter (max score >= 0.05): every frame gives the CTD model 3 crops, as a 3-animal video would.

Usage: /usr/bin/python3 bench/make_ctd_bench_model.py GOLDEN_DIR OUT.pt
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import yaml


def widen(name, shape):
    """The tensor's shape with five bodyparts instead of four."""
    if name.startswith("heads.bodypart.heatmap_head.head_heatmap.1."):
        return [6] + shape[1:]  # 5 keypoints + the centre
    if name.startswith("heads.bodypart.offset_head.transition_offset."):
        return [75] + shape[1:] if shape else shape  # 15 channels per keypoint
    return shape


def main(golden, out):
    case = os.path.join(golden, "dekr_w18_multi")
    with open(os.path.join(case, "config.yaml")) as f:
        config = yaml.safe_load(f)
    with open(os.path.join(case, "manifest.json")) as f:
        manifest = json.load(f)
    config["metadata"]["bodyparts"].append("paw")
    head = config["model"]["heads"]["bodypart"]
    head["target_generator"]["num_joints"] = 5
    head["heatmap_config"]["channels"][-1] = 6
    head["offset_config"]["channels"][1] = 75
    head["offset_config"]["channels"][2] = 5
    tensors = []
    for name, shape, dtype in manifest["tensors"]:
        tensors.append([name, widen(name, shape), dtype])
    # The fifth keypoint's branch: a copy of the fourth's entries, appended in module order.
    feature = [t for t in manifest["tensors"] if t[0].startswith("heads.bodypart.offset_head.offset_feature_layers.3.")]
    final = [t for t in manifest["tensors"] if t[0].startswith("heads.bodypart.offset_head.offset_final_layer.3.")]
    at = max(i for i, t in enumerate(tensors) if t[0].startswith("heads.bodypart.offset_head.offset_feature_layers.3."))
    for j, (name, shape, dtype) in enumerate(feature):
        tensors.insert(at + 1 + j, [name.replace("offset_feature_layers.3.", "offset_feature_layers.4."), shape, dtype])
    tensors += [[n.replace("offset_final_layer.3.", "offset_final_layer.4."), s, d] for n, s, d in final]
    manifest["tensors"] = tensors
    meta = manifest["state_dict_metadata"]
    for key in list(meta):
        for a, b in (("offset_feature_layers.3", "offset_feature_layers.4"), ("offset_final_layer.3", "offset_final_layer.4")):
            if a in key:
                meta[key.replace(a, b)] = meta[key]
    overrides = dict(np.load(os.path.join(case, "overrides.npz")))
    for key in list(overrides):
        value = overrides[key]
        if key.startswith("heads.bodypart.offset_head.transition_offset."):
            overrides[key] = np.concatenate([value, value[-15:]])
        if "offset_feature_layers.3." in key:
            overrides[key.replace("offset_feature_layers.3.", "offset_feature_layers.4.")] = value
    overrides["heads.bodypart.heatmap_head.head_heatmap.1.bias"] = np.full(6, 0.5, dtype=np.float32)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "config.yaml"), "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        np.savez(os.path.join(d, "overrides.npz"), **overrides)
        subprocess.run([sys.executable, os.path.join(golden, "make_model.py"), d, out], check=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
