#!/usr/bin/python3
"""Campaign figures (issue 14): the CPU cost of sharding and the balance of the shards.

1. Overhead: a campaign of V videos planned into N shards, its N tasks run one after another
   as separate processes (`posebatch analyze --manifest M --shard I/N`, what N array tasks do),
   against one process analysing the same videos (`posebatch analyze MODEL VIDEOS...`), same
   options. Prints CPU seconds (user + sys of the child processes, from getrusage) and the ratio.
   Tasks run in turn so that both sides use the same cores the same way.
2. Balance: `posebatch plan` on a skewed set of videos (log-normal lengths, a long tail): max
   shard frames / mean shard frames, as plan prints it.

Usage: campaign_bench.py [--bin build/posebatch] [--model samples/synth/model] [--video V]
                         [--videos 8] [--frames 600] [--shards 4] [--extra "--batch-size 8"]
Prints markdown tables.
"""
import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_video(src, path, frames, size=None):
    loops = 1000
    cmd = ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", src, "-frames:v", str(frames)]
    if size:
        cmd += ["-vf", "scale=%s" % size]
    subprocess.run(cmd + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", path],
                   check=True)


def cpu_of(cmd):
    """Runs cmd; returns (CPU seconds of the child, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "posebatch"))
    ap.add_argument("--model", default=os.path.join(ROOT, "samples", "synth", "model"))
    ap.add_argument("--video", default=os.path.join(ROOT, "samples", "synth", "video.mp4"))
    ap.add_argument("--size", default=None, help="scale the videos to WxH (e.g. 640:480)")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=600, help="mean frames per video")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each side; the minimum is kept")
    ap.add_argument("--extra", default="", help="more analyze options for both sides")
    args = ap.parse_args()
    extra = args.extra.split()

    with tempfile.TemporaryDirectory() as tmp:
        rng = random.Random(1)
        videos = []
        for i in range(args.videos):
            n = max(30, int(args.frames * rng.uniform(0.5, 1.5)))
            p = os.path.join(tmp, "v%02d.mp4" % i)
            make_video(args.video, p, n, args.size)
            videos.append(p)
        single, campaign = [], []
        for rep in range(args.repeats):
            ref = os.path.join(tmp, "ref%d" % rep)
            cpu, wall = cpu_of([args.bin, "analyze", args.model, *videos, "--dest", ref, "--quiet", *extra])
            single.append((cpu, wall))
            camp = os.path.join(tmp, "campaign%d" % rep)
            subprocess.run([args.bin, "plan", args.model, *videos, "-o", camp, "--shards", str(args.shards), "--dest",
                            os.path.join(camp, "out"), *extra], check=True, stdout=subprocess.DEVNULL)
            total_cpu = total_wall = 0.0
            for i in range(args.shards):
                cpu, wall = cpu_of([args.bin, "analyze", "--manifest", os.path.join(camp, "manifest.jsonl"), "--shard",
                                    "%d/%d" % (i, args.shards), "--quiet"])
                total_cpu += cpu
                total_wall += wall
            campaign.append((total_cpu, total_wall))
            for v in videos:  # the campaign's outputs equal the single run's, byte for byte
                stem = os.path.splitext(os.path.basename(v))[0]
                a = [f for f in os.listdir(ref) if f.startswith(stem) and f.endswith(".h5")][0]
                with open(os.path.join(ref, a), "rb") as f1, open(os.path.join(camp, "out", a), "rb") as f2:
                    assert f1.read() == f2.read(), a
        s_cpu = min(c for c, _ in single)
        c_cpu = min(c for c, _ in campaign)
        frames = sum(int(subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
                                         "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", v],
                                        capture_output=True, text=True).stdout) for v in videos)
        print("## Sharding overhead (%d videos, %d frames, %d shards run in turn; model %s)\n" %
              (args.videos, frames, args.shards, os.path.basename(os.path.normpath(args.model))))
        print("| run | CPU s (min of %d) | wall s | campaign / single |" % args.repeats)
        print("|---|---:|---:|---:|")
        print("| one process | %.2f | %.2f | |" % (s_cpu, min(w for _, w in single)))
        print("| %d tasks | %.2f | %.2f | %.3f |" % (args.shards, c_cpu, min(w for _, w in campaign), c_cpu / s_cpu))

        # Balance on a skewed set: the plan's own figure (the videos are only probed, not analysed).
        skew = os.path.join(tmp, "skew")
        os.makedirs(skew)
        lengths = sorted(max(10, int(rng.lognormvariate(5.0, 0.9))) for _ in range(40))
        src = videos[0]
        for i, n in enumerate(lengths):
            make_video(src, os.path.join(skew, "s%02d.mp4" % i), n)
        print("\n## Shard balance (40 videos, log-normal lengths %d..%d frames, total %d)\n" %
              (lengths[0], lengths[-1], sum(lengths)))
        print("| shards | max / mean shard frames | best possible (whole videos) |")
        print("|---:|---:|---:|")
        for shards in (2, 4, 8):
            out = subprocess.run([args.bin, "plan", args.model, skew, "-o", os.path.join(tmp, "plan%d" % shards),
                                  "--shards", str(shards)], capture_output=True, text=True, check=True).stdout
            ratio = float(re.search(r"max/mean frames ([0-9.]+)", out).group(1))
            best = max(1.0, lengths[-1] / (sum(lengths) / shards))
            print("| %d | %.3f | %.3f |" % (shards, ratio, best))


if __name__ == "__main__":
    main()
