#!/usr/bin/python3
"""Makes the bundled sample: a synthetic video with known keypoints and a small pose model
trained on the same kind of images, so that the demo can check the whole chain end to end.

Usage: scripts/make_sample.py [--out samples/synth] [--steps N] [--pool N]

Needs only Debian's python3-numpy, python3-torch (CPU) and the ffmpeg CLI. Everything is
seeded (rerunning it rewrites the same files); with the defaults it takes about 9 minutes on
one CPU thread (7 of them training).

The scene: an animal-like shape seen from above (ellipse body with a shadow, a head that turns
on its neck, two ears, eyes, a nose and a wagging tail) on a textured floor.
Keypoints: snout (tip of the head), leftear and rightear (centres of the ears; "left" is the
animal's own left, seen from above), tailbase (where the tail leaves the body).
Coordinates are in pixels with the centre of the top-left pixel at (0, 0), as DeepLabCut's.

Writes (into --out):
  video.mp4          320x240, 240 frames, 30 fps, H.264 yuv420p (ffmpeg CLI, libx264 crf 20)
  ground_truth.csv   header "frame,snout_x,snout_y,leftear_x,leftear_y,...", then one row per
                     frame (0-based frame number, then x,y of each bodypart in the order of
                     the header; every keypoint is visible in every frame)
  model/sample.torchscript.pt   the trained network, TorchScript; its forward returns
                     {"bodypart": {"heatmap": [B,4,2h+1,2w+1], "locref": [B,8,2h+1,2w+1]}}
                     for a [B,3,H,W] input (h, w = H/16, W/16 rounded up)
  model/pytorch_config.yaml     DeepLabCut's pytorch_config for it (bottom-up, stride 8,
                     HeatmapPredictor with sigmoid, locref_std 7.2801, ImageNet normalization)

The network: a stride-16 convolutional backbone and DeepLabCut-style heads, one
ConvTranspose2d(k=3, s=2) each for heatmap and locref (total stride 8, output 2H+1). Targets
follow DeepLabCut's HeatmapPredictor exactly: heatmap cell (ix, iy) stands for the point
(ix*8 + 4, iy*8 + 4); its locref is the offset to the keypoint divided by 7.2801. Heatmaps are
Gaussians (sigma 6 px) learnt with binary cross-entropy on logits (apply_sigmoid: true);
locref is learnt within 17 px of the keypoint (DeepLabCut's pos_dist_thresh).
Training images are 128x128 scenes from the same renderer (random pose, size, colours, floor),
passed through libx264 like the video, normalized as posebatch does:
RGB, (x/255 - mean)/std with ImageNet's mean and std, CHW.
"""
import argparse
import math
import os
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]
VIDEO_W, VIDEO_H, VIDEO_FRAMES, FPS = 320, 240, 240, 30
CROP = 128  # training image size
STRIDE, LOCREF_STD = 8, 7.2801
SIGMA = 6.0  # px, heatmap target
LOCREF_RADIUS = 17.0  # px, DeepLabCut's pos_dist_thresh
CRF = "20"
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Rendering (float RGB images in [0, 1], shapes anti-aliased from signed distances)

def ellipse_sdf(px, py, cx, cy, a, b, angle):
    """Approximate signed distance (px) to an ellipse: (f - 1) / |grad f|."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = px - cx, py - cy
    u, v = c * dx + s * dy, -s * dx + c * dy
    f = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    grad = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2) / np.maximum(f, 1e-6)
    return (f - 1.0) / np.maximum(grad, 1e-6), f


def polyline_sdf(px, py, points, radii):
    """Signed distance to a chain of capsules whose radius goes from radii[i] to radii[i+1]."""
    d = np.full(px.shape, 1e9)
    for (x0, y0), (x1, y1), r0, r1 in zip(points[:-1], points[1:], radii[:-1], radii[1:]):
        ex, ey = x1 - x0, y1 - y0
        t = np.clip(((px - x0) * ex + (py - y0) * ey) / max(ex * ex + ey * ey, 1e-9), 0.0, 1.0)
        dist = np.hypot(px - (x0 + t * ex), py - (y0 + t * ey)) - (r0 + t * (r1 - r0))
        d = np.minimum(d, dist)
    return d


def paint(img, sdf, color, opacity=1.0, softness=1.0):
    alpha = (np.clip(0.5 - sdf / softness, 0.0, 1.0) * opacity)[..., None]
    img *= 1.0 - alpha
    img += alpha * np.asarray(color, dtype=np.float64)


def upsample_noise(rng, h, w, cell):
    """Smooth value noise: a random grid of (h/cell) x (w/cell) values, bicubic upsampled."""
    gh, gw = h // cell + 3, w // cell + 3
    grid = torch.from_numpy(rng.random((1, 1, gh, gw)))
    up = F.interpolate(grid, scale_factor=cell, mode="bicubic", align_corners=False)[0, 0].numpy()
    oy, ox = rng.integers(0, cell, size=2)
    return up[oy:oy + h, ox:ox + w]


def floor_texture(rng, h, w):
    """A textured floor: multi-scale noise between two colours, grain, and pebbles."""
    n = np.zeros((h, w))
    for cell, amp in [(64, 1.0), (32, 0.6), (16, 0.4), (8, 0.25), (4, 0.15)]:
        n += amp * upsample_noise(rng, h, w, cell)
    n = (n - n.min()) / max(n.max() - n.min(), 1e-9)
    base = np.clip(rng.uniform(0.25, 0.85) * rng.normal(1.0, 0.15, size=3), 0.05, 0.95)
    other = np.clip(base * rng.uniform(0.6, 1.4) + rng.normal(0, 0.08, size=3), 0.05, 0.95)
    img = base + (other - base) * n[..., None]
    img += rng.normal(0, rng.uniform(0.01, 0.04), size=(h, w, 1)) + rng.normal(0, 0.01, size=(h, w, 3))
    py, px = np.mgrid[0:h, 0:w].astype(np.float64)
    for _ in range(int(rng.integers(0, 1 + h * w // 1500))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        a = rng.uniform(1.0, 4.0)
        sdf, _ = ellipse_sdf(px, py, cx, cy, a, a * rng.uniform(0.4, 1.0), rng.uniform(0, math.pi))
        paint(img, sdf, np.clip(base * rng.uniform(0.4, 1.5), 0, 1), opacity=rng.uniform(0.3, 0.9))
    return np.clip(img, 0.0, 1.0)


def rotate(x, y, angle):
    c, s = math.cos(angle), math.sin(angle)
    return c * x - s * y, s * x + c * y


def draw_animal(img, pose):
    """Draws the animal onto img (in place) and returns its keypoints, shape (4, 2)."""
    h, w, _ = img.shape
    py, px = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy, th, yaw, s = pose["x"], pose["y"], pose["heading"], pose["head_yaw"], pose["scale"]

    def body_pt(u, v):  # body frame -> image
        rx, ry = rotate(u, v, th)
        return cx + rx, cy + ry

    neck_u = 14.0 * s
    head_th = th + yaw

    def head_pt(u, v):  # head frame (origin at the neck) -> image
        nx, ny = body_pt(neck_u, 0.0)
        rx, ry = rotate(u, v, head_th)
        return nx + rx, ny + ry

    fur, dark = np.asarray(pose["fur"]), np.asarray(pose["fur"]) * 0.55
    # Tail: from inside the body back through a wagging curve.
    tail_pts, radii = [body_pt(-15.0 * s, 0.0)], [3.2 * s]
    ang, u, v = math.pi, -19.0 * s, 0.0
    tail_pts.append(body_pt(u, v))
    radii.append(3.0 * s)
    for i in range(8):
        ang += pose["tail_bend"] / 8 + 0.25 * pose["tail_wag"] * math.sin(i * 0.9 + pose["tail_phase"])
        u, v = u + 4.2 * s * math.cos(ang), v + 4.2 * s * math.sin(ang)
        tail_pts.append(body_pt(u, v))
        radii.append((2.8 - 0.2 * i) * s)
    # Soft shadow, then tail, body (shaded), head, ears, eyes, nose.
    sx, sy = cx + 2.5 * s, cy + 3.0 * s
    sdf, _ = ellipse_sdf(px, py, sx, sy, 22.0 * s, 12.5 * s, th)
    paint(img, sdf, (0, 0, 0), opacity=0.35, softness=5.0)
    paint(img, polyline_sdf(px, py, tail_pts, radii), dark * 1.1)
    bx, by = body_pt(0.0, 0.0)
    sdf, f = ellipse_sdf(px, py, bx, by, 20.0 * s, 11.0 * s, th)
    shade = np.clip(1.08 - 0.35 * f ** 2, 0.6, 1.1)[..., None]
    alpha = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
    img *= 1.0 - alpha
    img += alpha * np.clip(fur * shade, 0, 1)
    hx, hy = head_pt(6.0 * s, 0.0)
    sdf, f = ellipse_sdf(px, py, hx, hy, 9.0 * s, 7.0 * s, head_th)
    alpha = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
    img *= 1.0 - alpha
    img += alpha * np.clip(fur * np.clip(1.1 - 0.3 * f ** 2, 0.6, 1.1)[..., None], 0, 1)
    ears = [head_pt(1.0 * s, -7.0 * s), head_pt(1.0 * s, 7.0 * s)]  # animal's left is -v
    for ex, ey in ears:
        sdf, _ = ellipse_sdf(px, py, ex, ey, 3.6 * s, 3.6 * s, 0.0)
        paint(img, sdf, dark)
        sdf, _ = ellipse_sdf(px, py, ex, ey, 2.2 * s, 2.2 * s, 0.0)
        paint(img, sdf, pose["ear_inner"])
    for side in (-1, 1):
        ex, ey = head_pt(8.5 * s, side * 3.6 * s)
        sdf, _ = ellipse_sdf(px, py, ex, ey, 1.4 * s, 1.4 * s, 0.0)
        paint(img, sdf, (0.05, 0.05, 0.05))
    snout = head_pt(15.0 * s, 0.0)
    sdf, _ = ellipse_sdf(px, py, *head_pt(14.0 * s, 0.0), 1.8 * s, 2.2 * s, head_th)
    paint(img, sdf, pose["nose"])
    tailbase = body_pt(-19.0 * s, 0.0)
    return np.array([snout, ears[0], ears[1], tailbase], dtype=np.float64)


def random_palette(rng):
    fur = np.clip(rng.uniform(0.15, 0.95) * np.array([1.0, 0.85, 0.7]) * rng.uniform(0.8, 1.2, 3), 0, 1)
    return dict(fur=fur,
                ear_inner=np.clip(np.array([0.9, 0.6, 0.6]) * rng.uniform(0.7, 1.1, 3), 0, 1),
                nose=np.clip(np.array([0.35, 0.2, 0.2]) * rng.uniform(0.5, 1.5, 3), 0, 1))


def random_pose(rng, size):
    """A pose whose keypoints stay inside a size x size image (with a margin of 6 px)."""
    while True:
        pose = dict(x=rng.uniform(0, size), y=rng.uniform(0, size), heading=rng.uniform(-math.pi, math.pi),
                    head_yaw=rng.uniform(-0.6, 0.6), scale=rng.uniform(0.8, 1.2),
                    tail_bend=rng.uniform(-1.5, 1.5), tail_wag=rng.uniform(-1, 1),
                    tail_phase=rng.uniform(0, 2 * math.pi), **random_palette(rng))
        kp = keypoints_only(pose)
        if kp.min() >= 6 and kp.max() <= size - 7:
            return pose


def keypoints_only(pose):
    return draw_animal(np.zeros((1, 1, 3)), pose)


def to_uint8(img):
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# ffmpeg

def encode(frames: np.ndarray, path: str, fps: int = FPS):
    n, h, w, _ = frames.shape
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "medium", "-crf", CRF,
           "-pix_fmt", "yuv420p", "-threads", "1", "-movflags", "+faststart", path]
    subprocess.run(cmd, input=frames.tobytes(), check=True)


def decode(path: str, w: int, h: int) -> np.ndarray:
    cmd = ["ffmpeg", "-loglevel", "error", "-threads", "1", "-i", path, "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w, 3)


def through_h264(frames: np.ndarray, tmp: str) -> np.ndarray:
    """The frames after an H.264 round trip, so that training sees the video's artifacts."""
    encode(frames, tmp)
    out = decode(tmp, frames.shape[2], frames.shape[1])
    os.remove(tmp)
    assert out.shape == frames.shape, (out.shape, frames.shape)
    return out


# ---------------------------------------------------------------------------------------------
# The sample video: one continuous run over a fixed floor

def video_poses(rng):
    palette = random_palette(rng)
    palette["fur"] = np.array([0.62, 0.48, 0.36])
    poses = []
    for t in range(VIDEO_FRAMES):
        w = 2 * math.pi * t / VIDEO_FRAMES  # one figure-eight in the clip
        x = VIDEO_W / 2 + 100 * math.sin(w + 0.3)
        y = VIDEO_H / 2 + 62 * math.sin(2 * w) + 8 * math.sin(5 * w)
        vx = 100 * math.cos(w + 0.3)
        vy = 124 * math.cos(2 * w) + 40 * math.cos(5 * w)
        poses.append(dict(x=x, y=y, heading=math.atan2(vy, vx) + 0.15 * math.sin(3 * w),
                          head_yaw=0.45 * math.sin(2 * math.pi * t / 55),
                          scale=1.0 + 0.05 * math.sin(w), tail_bend=0.8 * math.sin(2 * math.pi * t / 40),
                          tail_wag=0.7 * math.sin(2 * math.pi * t / 12), tail_phase=0.3 * t, **palette))
    return poses


def make_video(out_dir, rng):
    floor = floor_texture(rng, VIDEO_H, VIDEO_W)
    frames, truth = [], []
    for pose in video_poses(rng):
        img = floor.copy()
        kp = draw_animal(img, pose)
        assert kp.min() >= 0 and (kp[:, 0] < VIDEO_W).all() and (kp[:, 1] < VIDEO_H).all()
        frames.append(to_uint8(img))
        truth.append(kp)
    frames, truth = np.stack(frames), np.stack(truth)
    encode(frames, os.path.join(out_dir, "video.mp4"))
    with open(os.path.join(out_dir, "ground_truth.csv"), "w") as f:
        f.write("frame," + ",".join(f"{b}_{c}" for b in BODYPARTS for c in "xy") + "\n")
        for i, kp in enumerate(truth):
            f.write(f"{i}," + ",".join(f"{v:.3f}" for v in kp.reshape(-1)) + "\n")
    return truth


def make_training_pool(n, rng, tmp_dir):
    images = np.empty((n, CROP, CROP, 3), dtype=np.uint8)
    keypoints = np.empty((n, len(BODYPARTS), 2), dtype=np.float32)
    for i in range(n):
        img = floor_texture(rng, CROP, CROP)
        keypoints[i] = draw_animal(img, random_pose(rng, CROP))
        images[i] = to_uint8(img)
    chunk = 500
    for s in range(0, n, chunk):
        images[s:s + chunk] = through_h264(images[s:s + chunk], os.path.join(tmp_dir, "_pool.mp4"))
    return images, keypoints


# ---------------------------------------------------------------------------------------------
# The network

def conv_bn(cin, cout, stride=1, dilation=1):
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SamplePoseNet(nn.Module):
    """Stride-16 backbone + DeepLabCut-style deconvolution heads (stride 8, output 2H+1)."""

    def __init__(self, num_keypoints: int):
        super().__init__()
        self.backbone = nn.Sequential(
            *conv_bn(3, 16, 2), *conv_bn(16, 16),
            *conv_bn(16, 32, 2), *conv_bn(32, 32),
            *conv_bn(32, 48, 2), *conv_bn(48, 48),
            *conv_bn(48, 64, 2), *conv_bn(64, 64), *conv_bn(64, 64, dilation=2))
        self.heatmap = nn.ConvTranspose2d(64, num_keypoints, 3, stride=2)
        self.locref = nn.ConvTranspose2d(64, 2 * num_keypoints, 3, stride=2)

    def forward(self, x: torch.Tensor) -> Dict[str, Dict[str, torch.Tensor]]:
        f = self.backbone(x)
        return {"bodypart": {"heatmap": self.heatmap(f), "locref": self.locref(f)}}


def fused_for_export(model: SamplePoseNet) -> SamplePoseNet:
    """The same network with each BatchNorm folded into its convolution (inference only)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    model = model.eval()
    layers: List[nn.Module] = []
    mods = list(model.backbone)
    i = 0
    while i < len(mods):
        if isinstance(mods[i], nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
            layers.append(fuse_conv_bn_eval(mods[i], mods[i + 1]))
            i += 2
        else:
            layers.append(nn.ReLU() if isinstance(mods[i], nn.ReLU) else mods[i])
            i += 1
    out = SamplePoseNet(model.heatmap.out_channels)
    out.backbone = nn.Sequential(*layers)
    out.heatmap, out.locref = model.heatmap, model.locref
    return out.eval()


def normalize(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB -> posebatch's input: (x/255 - mean)/std, NCHW float32."""
    x = images_u8.float() / 255.0
    x = (x - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return x.permute(0, 3, 1, 2).contiguous()


def targets(keypoints: torch.Tensor, out_h: int, out_w: int):
    """Heatmap (Gaussian) and locref targets on DeepLabCut's grid: cell i stands for i*8+4."""
    gy = torch.arange(out_h, dtype=torch.float32) * STRIDE + STRIDE / 2
    gx = torch.arange(out_w, dtype=torch.float32) * STRIDE + STRIDE / 2
    dx = keypoints[..., 0, None, None] - gx[None, None, None, :]  # B,K,1,W
    dy = keypoints[..., 1, None, None] - gy[None, None, :, None]  # B,K,H,1
    dx, dy = dx.expand(-1, -1, out_h, out_w), dy.expand(-1, -1, out_h, out_w)
    d2 = dx ** 2 + dy ** 2
    heat = torch.exp(-d2 / (2 * SIGMA ** 2))
    mask = (d2 <= LOCREF_RADIUS ** 2).float()
    loc = torch.stack([dx, dy], dim=2).flatten(1, 2) / LOCREF_STD  # B,2K,H,W: (dx0,dy0,dx1,...)
    loc_mask = mask.repeat_interleave(2, dim=1)
    return heat, loc, loc_mask


def predict(heatmap: torch.Tensor, locref: torch.Tensor) -> torch.Tensor:
    """DeepLabCut's HeatmapPredictor (argmax + locref*7.2801), x/y only: [B,K,2]."""
    b, k, h, w = heatmap.shape
    idx = heatmap.flatten(2).argmax(-1)
    iy, ix = idx // w, idx % w
    loc = locref.reshape(b, k, 2, h * w).gather(3, idx[:, :, None, None].expand(b, k, 2, 1))[..., 0]
    x = ix.float() * STRIDE + STRIDE / 2 + loc[..., 0] * LOCREF_STD
    y = iy.float() * STRIDE + STRIDE / 2 + loc[..., 1] * LOCREF_STD
    return torch.stack([x, y], -1)


def jitter(images_u8: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Brightness/contrast/colour jitter in uint8 space (so that normalize() stays the same)."""
    b = images_u8.shape[0]
    x = images_u8.float()
    gain = 1 + 0.15 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1)
    tint = 1 + 0.05 * (2 * torch.rand(b, 1, 1, 3, generator=gen) - 1)
    bias = 15 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1)
    noise = 2.0 * torch.randn(x.shape, generator=gen)
    return (x * gain * tint + bias + noise).clamp(0, 255).round().to(torch.uint8)


def train(model, images, keypoints, steps, batch, log_every=200):
    gen = torch.Generator().manual_seed(1)
    images_t, kp_t = torch.from_numpy(images), torch.from_numpy(keypoints)
    n_val = 256
    train_idx = torch.arange(n_val, len(images))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.05)
    t0 = time.time()
    for step in range(1, steps + 1):
        model.train()
        pick = train_idx[torch.randint(len(train_idx), (batch,), generator=gen)]
        x = normalize(jitter(images_t[pick], gen))
        out = model(x)["bodypart"]
        heat_t, loc_t, loc_m = targets(kp_t[pick], out["heatmap"].shape[2], out["heatmap"].shape[3])
        heat_loss = F.binary_cross_entropy_with_logits(out["heatmap"], heat_t)
        loc_loss = (F.smooth_l1_loss(out["locref"], loc_t, reduction="none", beta=0.1) * loc_m).sum() / loc_m.sum()
        loss = 20 * heat_loss + loc_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            err = evaluate(model, images_t[:n_val], kp_t[:n_val])
            print(f"step {step}/{steps}  heat {heat_loss.item():.4f}  locref {loc_loss.item():.4f}  "
                  f"val median {err.median():.2f} px  p90 {err.quantile(0.9):.2f} px  "
                  f"({time.time() - t0:.0f} s)", flush=True)


@torch.no_grad()
def evaluate(model, images_u8, keypoints, batch=64):
    model.eval()
    errs = []
    for s in range(0, len(images_u8), batch):
        out = model(normalize(images_u8[s:s + batch]))["bodypart"]
        pred = predict(out["heatmap"], out["locref"])
        errs.append((pred - keypoints[s:s + batch]).norm(dim=-1).flatten())
    return torch.cat(errs)


CONFIG = """# DeepLabCut pytorch_config for the bundled sample model (scripts/make_sample.py made it).
# A TorchScript network (sample.torchscript.pt) stands for DeepLabCut's backbone + heads.
method: bu
net_type: synth_tiny
metadata:
  project_path: samples/synth
  pose_config_path: samples/synth/model/pytorch_config.yaml
  bodyparts: [{bodyparts}]
  unique_bodyparts: []
  individuals: [animal]
  with_identity: false
data:
  colormode: RGB
  inference:
    normalize_images: true
  train:
    normalize_images: true
model:
  backbone:
    type: SampleConvNet
    output_stride: 16
    freeze_bn_stats: true
  backbone_output_channels: 64
  heads:
    bodypart:
      type: HeatmapHead
      weight_init: normal
      predictor:
        type: HeatmapPredictor
        apply_sigmoid: true
        clip_scores: false
        location_refinement: true
        locref_std: {locref_std}
      target_generator:
        type: HeatmapGaussianGenerator
        num_heatmaps: {k}
        pos_dist_thresh: {radius:g}
        heatmap_mode: KEYPOINT
        generate_locref: true
        locref_std: {locref_std}
      criterion:
        heatmap: {{type: WeightedBCECriterion, weight: 1.0}}
        locref: {{type: WeightedHuberCriterion, weight: 0.05}}
      heatmap_config:
        channels: [64, {k}]
        kernel_size: [3]
        strides: [2]
      locref_config:
        channels: [64, {k2}]
        kernel_size: [3]
        strides: [2]
inference:
  multithreading: {{enabled: true, queue_length: 4, timeout: 30.0}}
  compile: {{enabled: false, backend: inductor}}
  autocast: {{enabled: false}}
posebatch:
  torchscript: sample.torchscript.pt
"""


def export(model, out_dir, check_images):
    mdir = os.path.join(out_dir, "model")
    os.makedirs(mdir, exist_ok=True)
    fused = fused_for_export(model)
    scripted = torch.jit.script(fused)
    path = os.path.join(mdir, "sample.torchscript.pt")
    scripted.save(path)
    with open(os.path.join(mdir, "pytorch_config.yaml"), "w") as f:
        f.write(CONFIG.format(bodyparts=", ".join(BODYPARTS), k=len(BODYPARTS), k2=2 * len(BODYPARTS),
                              locref_std=LOCREF_STD, radius=LOCREF_RADIUS))
    # The exported network must compute what was trained.
    with torch.no_grad():
        x = normalize(check_images)
        a, b = model.eval()(x)["bodypart"], torch.jit.load(path)(x)["bodypart"]
        for key in ("heatmap", "locref"):
            diff = (a[key] - b[key]).abs().max().item()
            assert diff < 1e-3, f"exported {key} differs by {diff}"
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "samples", "synth"))
    parser.add_argument("--steps", type=int, default=2500, help="training steps (batch 32)")
    parser.add_argument("--pool", type=int, default=6000, help="rendered training images")
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":
        # TorchScript writes a module's constants in set order, which follows string hashing:
        # a fixed hash seed makes the saved model byte for byte reproducible.
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED="0"))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    t0 = time.time()
    truth = make_video(args.out, np.random.default_rng(2024))
    print(f"video: {VIDEO_FRAMES} frames {VIDEO_W}x{VIDEO_H} ({time.time() - t0:.0f} s)", flush=True)
    images, keypoints = make_training_pool(args.pool, np.random.default_rng(7), args.out)
    print(f"training pool: {len(images)} images {CROP}x{CROP} ({time.time() - t0:.0f} s)", flush=True)

    model = SamplePoseNet(len(BODYPARTS))
    train(model, images, keypoints, args.steps, batch=32)
    path = export(model, args.out, torch.from_numpy(images[:8]))

    # Check on the encoded sample video itself (decoded by the ffmpeg CLI, as a user would).
    frames = decode(os.path.join(args.out, "video.mp4"), VIDEO_W, VIDEO_H)
    assert len(frames) == VIDEO_FRAMES, len(frames)
    err = evaluate(torch.jit.load(path), torch.from_numpy(frames.copy()), torch.from_numpy(truth).float())
    per_part = err.reshape(VIDEO_FRAMES, len(BODYPARTS)).median(0).values
    print("sample video: median error %.2f px, p90 %.2f px; per bodypart %s" % (
        err.median(), err.quantile(0.9), ", ".join(f"{b} {e:.2f}" for b, e in zip(BODYPARTS, per_part.tolist()))))
    print(f"model: {path} ({os.path.getsize(path) / 1e6:.2f} MB); total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
