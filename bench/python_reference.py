#!/usr/bin/python3
"""The Python reference for posebatch-bench: DeepLabCut's runner, re-created on the same model.

Runs a DeepLabCut ResNet bottom-up export (.pt: config + pose state dict) the way DeepLabCut 3's
PoseInferenceRunner does on CPU: frames decoded in order (OpenCV when available, else an ffmpeg
pipe), BGR->RGB, normalized with torch, a producer thread feeding a queue of 4, batches built
by list accumulation + torch.stack (DeepLabCut >= PR #3099) or, with --variant cat, by growing
a tensor with torch.cat per frame (before that PR), then forward and HeatmapPredictor.

The network is torchvision's ResNet-50 with GroupNorm (the same layer names and semantics as
timm's resnet50_gn, dilation for output stride 16) and two ConvTranspose2d heads.

A TorchScript model (file or folder, with its pytorch_config.yaml) is run as it is.

Usage: python_reference.py MODEL.pt VIDEO [--frames N] [-b 1,8] [--threads 2] [--variant stack|cat]
Prints one markdown row per batch size: batch, fps.
"""
import argparse
import queue
import subprocess
import threading
import time

import numpy as np
import torch
import torch.nn as nn


def build_torchscript(path):
    """A TorchScript model (file, or folder holding one) with its pytorch_config.yaml."""
    import glob
    import os
    import yaml
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    if os.path.isdir(path):
        path = glob.glob(os.path.join(path, "*.torchscript.pt"))[0]
    with open(os.path.join(folder, "pytorch_config.yaml")) as f:
        cfg = yaml.safe_load(f)
    net = torch.jit.load(path).eval()
    head = cfg["model"]["heads"]["bodypart"]
    stride = float(cfg["model"]["backbone"].get("output_stride", 32))
    for s in head["heatmap_config"].get("strides", []):
        stride /= s
    locref_std = head["predictor"].get("locref_std", 7.2801)

    class Pose(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            out = self.net(x)["bodypart"]
            return out["heatmap"], out["locref"]

    return Pose().eval(), stride, locref_std


def build_model(path):
    import os
    if os.path.isdir(path) or path.endswith((".torchscript.pt", ".torchscript")):
        return build_torchscript(path)
    import torchvision
    data = torch.load(path, map_location="cpu")
    cfg, sd = data["config"], data["pose"]
    bb = cfg["model"]["backbone"]
    os_ = bb.get("output_stride", 32)
    dil = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}[os_]
    norm = (lambda c: nn.GroupNorm(32, c)) if bb["model_name"].endswith("_gn") else nn.BatchNorm2d
    net = torchvision.models.resnet50(norm_layer=norm, replace_stride_with_dilation=dil)
    net.fc = nn.Identity()
    net.load_state_dict({k[len("backbone.model."):]: v for k, v in sd.items() if k.startswith("backbone.model.")},
                        strict=False)
    head = cfg["model"]["heads"]["bodypart"]
    hm = nn.ConvTranspose2d(*head["heatmap_config"]["channels"], 3, stride=2)
    lr = nn.ConvTranspose2d(*head["locref_config"]["channels"], 3, stride=2)
    hm.load_state_dict({"weight": sd["heads.bodypart.heatmap_head.deconv_layers.0.weight"],
                        "bias": sd["heads.bodypart.heatmap_head.deconv_layers.0.bias"]})
    lr.load_state_dict({"weight": sd["heads.bodypart.locref_head.deconv_layers.0.weight"],
                        "bias": sd["heads.bodypart.locref_head.deconv_layers.0.bias"]})

    class Pose(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.hm, self.lr = net, hm, lr

        def forward(self, x):
            n = self.net
            f = n.layer4(n.layer3(n.layer2(n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(x))))))))
            return self.hm(f), self.lr(f)

    return Pose().eval(), 8.0, 7.2801


def frames(video, limit):
    try:
        import cv2
        cap = cv2.VideoCapture(video)
        n = 0
        while n < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            yield bgr
            n += 1
        return
    except ImportError:
        pass
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", video], capture_output=True, text=True, check=True)
    w, h = map(int, probe.stdout.strip().split(","))
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-i", video, "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                         stdout=subprocess.PIPE)
    for _ in range(limit):
        buf = p.stdout.read(w * h * 3)
        if len(buf) < w * h * 3:
            break
        yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
    p.kill()


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def preprocess(bgr):
    rgb = bgr[:, :, ::-1].copy()
    x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    return (x - MEAN) / STD


def predict(heatmap, locref, stride, locref_std):
    b, k, h, w = heatmap.shape
    idx = heatmap.reshape(b, k, -1).argmax(-1)
    y, x = idx // w, idx % w
    loc = locref.reshape(b, k, 2, h, w)
    bi = torch.arange(b)[:, None]
    ki = torch.arange(k)[None, :]
    dx = loc[bi, ki, 0, y, x] * locref_std
    dy = loc[bi, ki, 1, y, x] * locref_std
    score = heatmap.reshape(b, k, -1).gather(-1, idx[..., None])[..., 0].clamp(0, 1)
    return torch.stack([x * stride + 0.5 * stride + dx, y * stride + 0.5 * stride + dy, score], -1)


def run(model, stride, locref_std, video, limit, batch_size, variant):
    q = queue.Queue(maxsize=4)

    def producer():
        if variant == "cat":
            batch = None
            for bgr in frames(video, limit):
                x = preprocess(bgr)[None]
                batch = x if batch is None else torch.cat([batch, x])  # O(n^2) growth
                if len(batch) == batch_size:
                    q.put(batch)
                    batch = None
            if batch is not None:
                q.put(batch)
        else:
            items = []
            for bgr in frames(video, limit):
                items.append(preprocess(bgr))
                if len(items) == batch_size:
                    q.put(torch.stack(items))
                    items = []
            if items:
                q.put(torch.stack(items))
        q.put(None)

    start = time.perf_counter()
    t = threading.Thread(target=producer)
    t.start()
    n = 0
    with torch.inference_mode():
        while True:
            batch = q.get()
            if batch is None:
                break
            hm, lr = model(batch)
            predict(hm, lr, stride, locref_std)
            n += len(batch)
    t.join()
    return n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("-b", "--batch-sizes", default="1,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", default="stack", choices=["stack", "cat"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, stride, locref_std = build_model(a.model)
    with torch.inference_mode():
        model(torch.zeros(1, 3, 64, 64))
    for b in map(int, a.batch_sizes.split(",")):
        fps = run(model, stride, locref_std, a.video, a.frames, b, a.variant)
        print(f"| {b} | {fps:.2f} |", flush=True)


if __name__ == "__main__":
    main()
