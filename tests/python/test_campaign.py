"""Campaigns (issue 14): plan, manifest tasks, shards, locks, graceful stops, status, JSON
progress; and the whole campaign on a real single-node Slurm (class RealSlurm).

Run by ctest (cli_campaign: everything but RealSlurm; slurm_campaign: RealSlurm) with
POSEBATCH_BIN and POSEBATCH_SOURCE set. Real videos (the bundled sample, re-encoded to several
lengths with ffmpeg), the bundled model, real FFmpeg decoding and LibTorch inference.
"""
import filecmp
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

BIN = os.environ["POSEBATCH_BIN"]
SOURCE = os.environ["POSEBATCH_SOURCE"]
MODEL = os.path.join(SOURCE, "samples", "synth", "model")
SAMPLE = os.path.join(SOURCE, "samples", "synth", "video.mp4")
SCORER = "DLC_SynthTiny_model"
# Short videos of skewed lengths, and one long enough to be stopped mid-way (several chunks).
LENGTHS = {"a": 30, "b": 45, "c": 60, "d": 75, "e": 90, "f": 120, "g": 150, "h": 200}
LONG_FRAMES = 1200
OPTIONS = ["--batch-size", "4", "--csv", "--threads", "1"]


def run(*args, env=None, timeout=300, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def make_video(path, frames):
    """The sample's frames, looped as needed, re-encoded (H.264, keyframe every 50)."""
    loops = (frames + 239) // 240 - 1
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", SAMPLE, "-frames:v", str(frames),
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", path], check=True)


def make_videos(folder, long=True):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, n in LENGTHS.items():
        p = os.path.join(folder, name + ".mp4")
        make_video(p, n)
        paths.append(p)
    if long:
        p = os.path.join(folder, "long.mp4")
        make_video(p, LONG_FRAMES)
        paths.append(p)
    return paths


def json_lines(text):
    """Every line of `text` must be one JSON object."""
    events = []
    for line in text.splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def status(campaign):
    r = run("status", campaign, "--json")
    return r.returncode, json.loads(r.stdout)


def task_events(campaign):
    events = []
    tasks = os.path.join(campaign, "tasks")
    for name in sorted(os.listdir(tasks)):
        if name.endswith(".events.jsonl"):
            with open(os.path.join(tasks, name)) as f:
                events += json_lines(f.read())
    return events


def analysed_counts(campaign):
    counts = {}
    for e in task_events(campaign):
        if e["event"] == "done" and e["outcome"] == "analysed":
            counts[e["video"]] = counts.get(e["video"], 0) + 1
    return counts


def reference_run(videos, dest):
    r = run("analyze", MODEL, *videos, "--dest", dest, *OPTIONS, "--quiet")
    assert r.returncode == 0, r.stderr


def assert_same_outputs(test, videos, out, ref):
    for v in videos:
        stem = os.path.splitext(os.path.basename(v))[0] + SCORER
        for ext in (".h5", ".csv"):
            a, b = os.path.join(out, stem + ext), os.path.join(ref, stem + ext)
            test.assertTrue(os.path.exists(a), a)
            test.assertTrue(filecmp.cmp(a, b, shallow=False), f"{a} differs from the single-process run's {b}")
    leftovers = [f for f in os.listdir(out) if f.endswith((".lock", ".resume", ".part"))]
    test.assertEqual(leftovers, [])


def wait_for_progress(proc_stderr_path, video_name, frames, timeout=120):
    """Waits until the JSON progress written to `proc_stderr_path` shows `frames` of `video_name`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(proc_stderr_path) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e.get("event") == "progress" and e["input"].endswith(video_name) and e["frames_done"] >= frames:
                        return e
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{video_name} did not reach {frames} frames in {timeout} s")


class Local(unittest.TestCase):
    """Tasks run as plain processes (what a Kubernetes Indexed Job or a shell loop does)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.videos = make_videos(os.path.join(cls.tmp.name, "videos"))
        cls.ref = os.path.join(cls.tmp.name, "ref")
        reference_run(cls.videos, cls.ref)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def plan(self, name, *inputs, shards=4, extra=()):
        campaign = os.path.join(self.tmp.name, name)
        out = os.path.join(campaign, "out")
        r = run("plan", MODEL, *(inputs or [os.path.join(self.tmp.name, "videos")]), "-o", campaign, "--shards",
                str(shards), "--dest", out, *OPTIONS, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return campaign, out, r.stdout

    def test_plan_writes_a_balanced_manifest(self):
        campaign, out, stdout = self.plan("plan")
        with open(os.path.join(campaign, "manifest.jsonl")) as f:
            lines = json_lines(f.read())
        header, rows = lines[0], lines[1:]
        self.assertEqual(header["posebatch_manifest"], 1)
        self.assertEqual(header["scorer"], SCORER)
        self.assertEqual(header["shards"], 4)
        self.assertEqual(header["analyze_args"][:2], ["--dest", out])
        self.assertIn("--csv", header["analyze_args"])
        self.assertEqual(len(rows), len(self.videos))
        frames = {os.path.basename(r["video"]): r["frames"] for r in rows}
        expected = {k + ".mp4": v for k, v in LENGTHS.items()}
        expected["long.mp4"] = LONG_FRAMES
        self.assertEqual(frames, expected)
        for r in rows:
            self.assertEqual(r["size"], os.path.getsize(r["video"]))
            self.assertTrue(r["output"].startswith(os.path.join(out, "")))
        # Balance: no shard above 1.1 x the best any split can do (the mean, or the longest video).
        load = [0] * 4
        for r in rows:
            load[r["shard"]] += r["frames"]
        bound = max(sum(load) / 4, max(frames.values()))
        self.assertLessEqual(max(load), 1.1 * bound)
        self.assertIn("shard balance: max/mean frames", stdout)

    def test_shards_together_equal_one_process_and_status_tells(self):
        campaign, out, _ = self.plan("shards", os.path.join(self.tmp.name, "videos"), shards=3)
        code, s = status(campaign)
        self.assertEqual(code, 4)  # nothing done yet
        self.assertEqual(s["counts"]["pending"], len(self.videos))
        self.assertEqual(s["rerun"], [0, 1, 2])
        manifest = os.path.join(campaign, "manifest.jsonl")
        seen = []
        for i in range(3):
            r = run("analyze", "--manifest", manifest, "--shard", f"{i}/3", "--progress", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            events = json_lines(r.stderr)  # every stderr line is JSON
            self.assertEqual(events[-1]["event"], "summary")
            self.assertEqual(events[-1]["exit_code"], 0)
            for e in events:
                self.assertEqual((e["task"], e["of"]), (i, 3))
            done = [e for e in events if e["event"] == "done"]
            self.assertTrue(all(e["outcome"] == "analysed" for e in done))
            self.assertTrue(any(e["event"] == "progress" for e in events))
            seen += [e["input"] for e in done]
        self.assertEqual(sorted(seen), sorted(self.videos))  # each video in exactly one shard
        assert_same_outputs(self, self.videos, out, self.ref)
        code, s = status(campaign)
        self.assertEqual(code, 0)
        self.assertTrue(s["complete"])
        self.assertEqual(s["counts"]["done"], len(self.videos))
        self.assertEqual(s["rerun"], [])
        self.assertEqual({t["state"] for t in s["tasks"]}, {"done"})
        self.assertTrue(all(t["fps"] > 0 for t in s["tasks"]))
        self.assertTrue(all(0 <= t["updated_ago"] < 300 for t in s["tasks"]), s["tasks"])
        self.assertEqual(sum(t["frames"] for t in s["tasks"]), sum(LENGTHS.values()) + LONG_FRAMES)
        self.assertEqual(analysed_counts(campaign), {v: 1 for v in self.videos})
        # Idempotent: a task run again skips its finished videos.
        r = run("analyze", "--manifest", manifest, "--shard", "1/3", "--progress", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        outcomes = {e["outcome"] for e in json_lines(r.stderr) if e["event"] == "done"}
        self.assertEqual(outcomes, {"skipped"})
        text = run("status", campaign)
        self.assertEqual(text.returncode, 0)
        self.assertIn(f"{len(self.videos)} done (0 with lost frames)", text.stdout)
        self.assertIn("| task | state |", text.stdout)

    def test_task_index_from_the_environment(self):
        campaign, out, _ = self.plan("env", os.path.join(self.tmp.name, "videos", "a.mp4"),
                                     os.path.join(self.tmp.name, "videos", "b.mp4"), shards=2)
        manifest = os.path.join(campaign, "manifest.jsonl")
        for var, index in (("SLURM_ARRAY_TASK_ID", "0"), ("JOB_COMPLETION_INDEX", "1")):
            env = {k: v for k, v in os.environ.items() if k not in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")}
            env[var] = index
            r = run("analyze", "--manifest", manifest, "--progress", "json", env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json_lines(r.stderr)[-1]["task"], int(index))
        code, s = status(campaign)
        self.assertEqual(code, 0, s)
        env = dict(os.environ, SLURM_ARRAY_TASK_ID="7")
        r = run("analyze", "--manifest", manifest, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("task index 7 is not below the shard count 2", r.stderr)

    def test_environment_options_and_negated_flags_are_recorded(self):
        """The manifest records what the plan's environment (POSEBATCH_BATCH_SIZE) and negated flags
        (--no-async) set, so that its tasks run with them though their environment lacks them: the
        outputs equal a run given the same options on its command line."""
        video = os.path.join(self.tmp.name, "videos", "a.mp4")
        campaign = os.path.join(self.tmp.name, "optenv")
        out, ref = os.path.join(campaign, "out"), os.path.join(self.tmp.name, "optenv_ref")
        env = dict(os.environ, POSEBATCH_BATCH_SIZE="2")
        r = run("plan", MODEL, video, "-o", campaign, "--shards", "1", "--dest", out, "--csv", "--no-async", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        manifest = os.path.join(campaign, "manifest.jsonl")
        with open(manifest) as f:
            args = json_lines(f.read())[0]["analyze_args"]
        self.assertIn("--async=false", args)
        self.assertEqual(args[args.index("--batch-size") + 1], "2")
        r = run("analyze", "--manifest", manifest, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("analyze", MODEL, video, "--dest", ref, "--csv", "--batch-size", "2", "--no-async", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_same_outputs(self, [video], out, ref)

    def test_two_processes_on_one_video_never_both_write(self):
        campaign, out, _ = self.plan("lock", os.path.join(self.tmp.name, "videos", "long.mp4"), shards=1)
        manifest = os.path.join(campaign, "manifest.jsonl")
        err = os.path.join(self.tmp.name, "lock_a.err")
        with open(err, "w") as f:
            a = subprocess.Popen([BIN, "analyze", "--manifest", manifest, "--shard", "0/1", "--progress", "json"],
                                 stderr=f, stdout=subprocess.DEVNULL)
        try:
            wait_for_progress(err, "long.mp4", 8)
            # Paused while the others look: its locks stay held, and however fast this machine
            # analyses, it cannot finish the video before they have (issue 31).
            a.send_signal(signal.SIGSTOP)
            code, s = status(campaign)
            self.assertEqual(code, 4)
            self.assertEqual(s["videos"][0]["state"], "running")
            self.assertIn("pid %d" % a.pid, s["videos"][0]["detail"])
            self.assertEqual(s["tasks"][0]["state"], "running")
            self.assertEqual(s["rerun"], [])  # a live process has it
            # The same task started twice: refused (its task lock).
            r = run("analyze", "--manifest", manifest, "--shard", "0/1")
            self.assertEqual(r.returncode, 1)
            self.assertIn("task 0 of", r.stderr)
            self.assertIn("is already running", r.stderr)
            # A plain run on the same outputs: skips the video as busy, writes nothing.
            r = run("analyze", MODEL, os.path.join(self.tmp.name, "videos", "long.mp4"), "--dest", out, *OPTIONS,
                    "--progress", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            done = [e for e in json_lines(r.stderr) if e["event"] == "done"]
            self.assertEqual(done[0]["outcome"], "busy")
            self.assertEqual(done[0]["outputs"], [])
        finally:
            a.send_signal(signal.SIGCONT)
            self.assertEqual(a.wait(timeout=300), 0)
        assert_same_outputs(self, [os.path.join(self.tmp.name, "videos", "long.mp4")], out, self.ref)
        self.assertEqual(analysed_counts(campaign), {os.path.join(self.tmp.name, "videos", "long.mp4"): 1})

    def stop_mid_video(self, name, sig, env=None):
        long_video = os.path.join(self.tmp.name, "videos", "long.mp4")
        campaign, out, _ = self.plan(name, long_video, os.path.join(self.tmp.name, "videos", "a.mp4"), shards=1)
        manifest = os.path.join(campaign, "manifest.jsonl")
        err = os.path.join(self.tmp.name, name + ".err")
        with open(err, "w") as f:
            p = subprocess.Popen([BIN, "analyze", "--manifest", manifest, "--shard", "0", "--progress", "json"],
                                 stderr=f, stdout=subprocess.DEVNULL, env=env)
        wait_for_progress(err, "long.mp4", 300)
        p.send_signal(sig)
        rc = p.wait(timeout=120)
        with open(err) as f:
            events = json_lines(f.read())
        return campaign, out, manifest, rc, events, long_video

    def test_sigusr1_stops_at_a_chunk_and_resume_finishes(self):
        self.check_stop_at_a_chunk("usr1", signal.SIGUSR1)

    def test_sigterm_stops_at_a_chunk_within_its_grace(self):
        self.check_stop_at_a_chunk("term", signal.SIGTERM)

    def check_stop_at_a_chunk(self, name, sig):
        campaign, out, manifest, rc, events, long_video = self.stop_mid_video(name, sig)
        self.assertEqual(rc, 75)
        self.assertTrue(events[-1]["interrupted"])
        stopped = [e for e in events if e["event"] == "done"]
        self.assertEqual([e["outcome"] for e in stopped], ["stopped"])  # a.mp4 never started
        progress = [e["frames_done"] for e in events if e["event"] == "progress"]
        code, s = status(campaign)
        self.assertEqual(code, 4)
        v = {x["video"]: x for x in s["videos"]}
        self.assertEqual(v[long_video]["state"], "interrupted")
        rows = v[long_video]["journal_rows"]
        # Stopped at a chunk boundary at or after the signal: nothing completed was thrown away.
        self.assertGreaterEqual(rows, 256)
        self.assertEqual(rows % 256, 0)
        self.assertGreaterEqual(rows, max(progress) - 256)
        self.assertEqual(s["tasks"][0]["state"], "stopped")
        self.assertEqual(s["rerun"], [0])
        r = run("analyze", "--manifest", manifest, "--shard", "0", "--resume", "--progress", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        done = {e["input"]: e for e in json_lines(r.stderr) if e["event"] == "done"}
        self.assertEqual(done[long_video]["resumed_rows"], rows)
        assert_same_outputs(self, [long_video, os.path.join(self.tmp.name, "videos", "a.mp4")], out, self.ref)
        code, s = status(campaign)
        self.assertEqual(code, 0)

    def test_sigterm_past_its_grace_stops_at_once_keeping_completed_chunks(self):
        env = dict(os.environ, POSEBATCH_TERM_GRACE="0")
        campaign, out, manifest, rc, events, long_video = self.stop_mid_video("term0", signal.SIGTERM, env)
        self.assertEqual(rc, 130)
        code, s = status(campaign)
        v = {x["video"]: x for x in s["videos"]}
        self.assertEqual(v[long_video]["state"], "interrupted")
        self.assertGreaterEqual(v[long_video]["journal_rows"], 256)
        self.assertEqual(os.listdir(out), [os.path.basename(long_video)[:-4] + SCORER + ".resume"])
        r = run("analyze", "--manifest", manifest, "--resume", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_same_outputs(self, [long_video], out, self.ref)

    def test_bad_input_is_named(self):
        campaign, _, _ = self.plan("bad", os.path.join(self.tmp.name, "videos", "a.mp4"), shards=1)
        r = run("plan", MODEL, os.path.join(self.tmp.name, "videos", "a.mp4"), "-o", campaign)
        self.assertEqual(r.returncode, 2)
        self.assertIn("already holds a campaign", r.stderr)
        missing = os.path.join(self.tmp.name, "videos", "missing.mp4")
        r = run("plan", MODEL, missing, "-o", os.path.join(self.tmp.name, "bad2"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(missing, r.stderr)
        # Two videos with one name and one --dest: refused before anything runs.
        other = os.path.join(self.tmp.name, "other")
        os.makedirs(other, exist_ok=True)
        shutil.copy(os.path.join(self.tmp.name, "videos", "a.mp4"), other)
        r = run("plan", MODEL, os.path.join(self.tmp.name, "videos", "a.mp4"), os.path.join(other, "a.mp4"), "-o",
                os.path.join(self.tmp.name, "bad3"), "--dest", os.path.join(self.tmp.name, "bad3out"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("would both write", r.stderr)
        # A list file: one video per line, comments, relative to the list's folder.
        listing = os.path.join(self.tmp.name, "videos", "list.txt")
        with open(listing, "w") as f:
            f.write("# two videos\na.mp4\n\n  b.mp4  # the second\n")
        c4, _, stdout = self.plan("listed", listing, shards=1)
        self.assertIn("2 videos", stdout)
        # A damaged manifest line is named.
        with open(os.path.join(c4, "manifest.jsonl"), "a") as f:
            f.write("{not json\n")
        r = run("status", c4)
        self.assertEqual(r.returncode, 2)
        self.assertIn("manifest.jsonl line 4", r.stderr)
        r = run("analyze", "--manifest", os.path.join(campaign, "manifest.jsonl"), "--shard", "3/2")
        self.assertEqual(r.returncode, 2)
        r = run("analyze", MODEL, "--manifest", os.path.join(campaign, "manifest.jsonl"))
        self.assertEqual(r.returncode, 2)

    def test_slurm_script(self):
        campaign, _, _ = self.plan("script", os.path.join(self.tmp.name, "videos", "a.mp4"), shards=4)
        r = run("slurm", campaign, "--dry-run", "--partition", "gpu", "--time", "2:00:00", "--cpus-per-task", "4",
                "--gres", "gpu:1", "--mem", "8G", "--max-parallel", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        script = r.stdout
        for line in ("#SBATCH --array=0-3%2", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@300",
                     "#SBATCH --partition=gpu", "#SBATCH --time=2:00:00", "#SBATCH --cpus-per-task=4",
                     "#SBATCH --gres=gpu:1", "#SBATCH --mem=8G", f"#SBATCH --output={campaign}/logs/task-%a.log",
                     "scontrol requeue"):
            self.assertIn(line, script)
        self.assertIn("--shard \"$task/4\" --resume --progress json", script)
        self.assertEqual(subprocess.run(["bash", "-n"], input=script, text=True).returncode, 0)
        r = run("slurm", campaign, "--dry-run", "--tasks", "1,3")
        self.assertIn("#SBATCH --array=1,3", r.stdout)
        r = run("slurm", campaign, "--dry-run", "--tasks", "9")
        self.assertEqual(r.returncode, 2)


def slurm_cluster(*args):
    return subprocess.run(["bash", os.path.join(SOURCE, "tests", "slurm", "slurm_cluster.sh"), *args],
                          capture_output=True, text=True, timeout=300)


class RealSlurm(unittest.TestCase):
    """The whole campaign on a real single-node Slurm (tests/slurm): an array of 4 over 9
    videos, one task scancel'ed mid-video and finished by resubmitting; status at each point."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(dir="/tmp")
        os.chmod(cls.tmp.name, 0o755)
        cls.cluster = os.path.join(cls.tmp.name, "cluster")
        r = slurm_cluster("start", cls.cluster)
        if r.returncode == 77:
            cls.tmp.cleanup()
            raise unittest.SkipTest("Slurm cannot start here: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        assert r.returncode == 0, r.stdout + r.stderr
        os.environ["SLURM_CONF"] = os.path.join(cls.cluster, "slurm.conf")

    @classmethod
    def tearDownClass(cls):
        slurm_cluster("stop", cls.cluster)
        cls.tmp.cleanup()

    def squeue(self, job):
        r = subprocess.run(["squeue", "-h", "-j", job, "-o", "%i %T"], capture_output=True, text=True)
        return [line.split() for line in r.stdout.splitlines()]

    def wait_job(self, job, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.squeue(job):
                return
            time.sleep(0.5)
        raise AssertionError(f"job {job} still queued after {timeout} s: {self.squeue(job)}")

    def submit(self, campaign, *args):
        r = run("slurm", campaign, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = r.stdout.split()[2].rstrip(":")
        self.assertTrue(job.isdigit(), r.stdout)
        return job

    def test_campaign_on_slurm(self):
        videos = make_videos(os.path.join(self.tmp.name, "videos"))
        ref = os.path.join(self.tmp.name, "ref")
        reference_run(videos, ref)
        campaign = os.path.join(self.tmp.name, "campaign")
        out = os.path.join(campaign, "out")
        r = run("plan", MODEL, os.path.join(self.tmp.name, "videos"), "-o", campaign, "--shards", "4", "--dest", out,
                *OPTIONS)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(campaign, "manifest.jsonl")) as f:
            rows = json_lines(f.read())[1:]
        long_video = os.path.join(self.tmp.name, "videos", "long.mp4")
        long_task = [x["shard"] for x in rows if x["video"] == long_video][0]

        job = self.submit(campaign, "--cpus-per-task", "1")
        # Running: the long video's task reports progress in its Slurm log (JSON lines).
        log = os.path.join(campaign, "logs", f"task-{long_task}.log")
        wait_for_progress(log, "long.mp4", 300, timeout=240)
        code, s = status(campaign)
        self.assertEqual(code, 4)
        self.assertEqual(s["tasks"][long_task]["state"], "running")
        self.assertEqual(s["tasks"][long_task]["slurm_job"], f"{job}_{long_task}")
        self.assertIn({x["video"]: x for x in s["videos"]}[long_video]["state"], ("running",))
        subprocess.run(["scancel", f"{job}_{long_task}"], check=True)
        self.wait_job(job)

        code, s = status(campaign)
        self.assertEqual(code, 4, s)
        v = {x["video"]: x for x in s["videos"]}
        self.assertEqual(v[long_video]["state"], "interrupted")
        self.assertGreaterEqual(v[long_video]["journal_rows"], 256)
        others = [x for x in videos if x != long_video and v[x]["shard"] != long_task]
        self.assertTrue(others)
        self.assertTrue(all(v[x]["state"] == "done" for x in others), s)
        self.assertEqual(s["rerun"], [long_task])
        self.assertIn(s["tasks"][long_task]["state"], ("stopped", "lost"))
        text = run("status", campaign).stdout
        self.assertIn("--tasks rerun", text)

        job2 = self.submit(campaign, "--tasks", "rerun", "--cpus-per-task", "1")
        self.wait_job(job2)
        code, s = status(campaign)
        self.assertEqual(code, 0, s)
        self.assertTrue(s["complete"])
        self.assertEqual(analysed_counts(campaign), {x: 1 for x in videos})  # each exactly once
        with open(log) as f:
            resumed = [e for e in json_lines("\n".join(l for l in f if l.startswith("{")))
                       if e["event"] == "done" and e["input"] == long_video and e["outcome"] == "analysed"]
        self.assertEqual(len(resumed), 1)
        self.assertGreaterEqual(resumed[0]["resumed_rows"], 256)
        assert_same_outputs(self, videos, out, ref)
        with open(os.path.join(campaign, "jobs.log")) as f:
            self.assertEqual(len(f.read().splitlines()), 2)

    def test_time_limit_warning_stops_at_a_chunk_requeues_and_resumes(self):
        """What `--signal=B:USR1@300` does before the time limit, sent by hand: the batch shell
        forwards USR1, posebatch stops at its next journal chunk (exit 75), the script requeues
        its own array task, and the restarted task resumes the video there."""
        folder = os.path.join(self.tmp.name, "requeue_videos")
        os.makedirs(folder)
        video = os.path.join(folder, "long.mp4")
        make_video(video, LONG_FRAMES)
        ref = os.path.join(self.tmp.name, "requeue_ref")
        reference_run([video], ref)
        campaign = os.path.join(self.tmp.name, "requeue_campaign")
        out = os.path.join(campaign, "out")
        r = run("plan", MODEL, video, "-o", campaign, "--shards", "1", "--dest", out, *OPTIONS)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = self.submit(campaign, "--cpus-per-task", "1")
        log = os.path.join(campaign, "logs", "task-0.log")
        wait_for_progress(log, "long.mp4", 300, timeout=240)
        subprocess.run(["scancel", "--signal=USR1", "--batch", f"{job}_0"], check=True)
        self.wait_job(job)  # requeued (pending again), restarted, finished

        code, s = status(campaign)
        self.assertEqual(code, 0, s)
        with open(log) as f:
            text = f.read()
        self.assertIn("stopped at a checkpoint; requeueing", text)
        self.assertIn("restart 1", text)
        events = json_lines("\n".join(line for line in text.splitlines() if line.startswith("{")))
        done = [e for e in events if e["event"] == "done" and e["input"] == video]
        self.assertEqual([e["outcome"] for e in done], ["stopped", "analysed"], done)
        self.assertGreaterEqual(done[1]["resumed_rows"], 256)
        self.assertEqual(analysed_counts(campaign), {video: 1})
        assert_same_outputs(self, [video], out, ref)


if __name__ == "__main__":
    unittest.main()
