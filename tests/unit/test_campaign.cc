// Campaign building blocks: shard balance, task indices, the manifest's round trip and its
// errors, JSON text, and the output lock between processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "campaign/json_text.h"
#include "io/output_lock.h"
#include "posebatch/campaign.h"
#include "posebatch/progress_json.h"
#include "test_env.h"

namespace posebatch {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/pb_campaign_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A lab's skewed set: lengths log-normal (a few hour-long sessions among many short trials).
std::vector<int64_t> SkewedLengths(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<double> length(8.0, 1.2);  // median ~3000 frames, long tail
  std::vector<int64_t> frames;
  for (int i = 0; i < n; ++i) frames.push_back(static_cast<int64_t>(length(rng)) + 1);
  return frames;
}

// Max shard / mean: at most 1.1 whenever whole videos allow it, i.e. within 1.1 of the best
// split, max(mean, longest video) (a video is never split across tasks).
TEST(Shards, SkewedSetsAreBalancedWithinTenPercent) {
  int reached_mean = 0;
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const std::vector<int64_t> frames = SkewedLengths(200, seed);
    int64_t total = 0, longest = 0;
    for (int64_t f : frames) {
      total += f;
      longest = std::max(longest, f);
    }
    for (int shards : {4, 8, 16}) {
      const std::vector<int> shard_of = AssignShards(frames, shards);
      const double mean = static_cast<double>(total) / shards;
      const double best = std::max(1.0, static_cast<double>(longest) / mean);
      const double imbalance = ShardImbalance(frames, shard_of, shards);
      EXPECT_LE(imbalance, 1.1 * best) << "seed " << seed << ", " << shards << " shards";
      if (best == 1.0) {
        EXPECT_LE(imbalance, 1.1);
        ++reached_mean;
      }
    }
  }
  EXPECT_GE(reached_mean, 40);  // 4 and 8 shards of 200 videos: every seed
}

TEST(Shards, EveryVideoInOneShardAndDeterministic) {
  const std::vector<int64_t> frames = SkewedLengths(50, 7);
  const std::vector<int> a = AssignShards(frames, 6), b = AssignShards(frames, 6);
  EXPECT_EQ(a, b);
  std::vector<int> per(6, 0);
  for (int s : a) {
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 6);
    ++per[static_cast<size_t>(s)];
  }
  for (int n : per) EXPECT_GT(n, 0);
  // Naive round robin on the same set is far worse: the balance comes from the algorithm.
  std::vector<int> round_robin(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) round_robin[i] = static_cast<int>(i % 6);
  EXPECT_LT(ShardImbalance(frames, a, 6), ShardImbalance(frames, round_robin, 6));
}

TEST(Shards, ALongestVideoBoundsTheBalance) {
  const std::vector<int64_t> frames = {1000, 10, 10, 10};
  const std::vector<int> shard_of = AssignShards(frames, 2);
  EXPECT_NE(shard_of[0], shard_of[1]);
  EXPECT_EQ(shard_of[1], shard_of[2]);  // the short ones share the other shard
  EXPECT_NEAR(ShardImbalance(frames, shard_of, 2), 1000.0 / 515.0, 1e-9);
}

TEST(Shards, ShardVideosRecomputesForAnotherCount) {
  Manifest m;
  m.shards = 2;
  for (int i = 0; i < 5; ++i) m.videos.push_back({"v" + std::to_string(i), 0, 100 + i, "", i % 2});
  EXPECT_EQ(ShardVideos(m, 1, 2), (std::vector<size_t>{1, 3}));  // as planned
  size_t total = 0;
  for (int s = 0; s < 3; ++s) total += ShardVideos(m, s, 3).size();
  EXPECT_EQ(total, 5u);
}

TEST(Shards, ResolveShardFromTextAndEnvironment) {
  unsetenv("SLURM_ARRAY_TASK_ID");
  unsetenv("JOB_COMPLETION_INDEX");
  int index = 0, count = 0;
  ASSERT_TRUE(ResolveShard("2/5", 4, &index, &count).ok());
  EXPECT_EQ(index, 2);
  EXPECT_EQ(count, 5);
  ASSERT_TRUE(ResolveShard("3", 4, &index, &count).ok());
  EXPECT_EQ(count, 4);
  ASSERT_TRUE(ResolveShard("", 4, &index, &count).ok());
  EXPECT_EQ(index, -1);  // no task: the whole manifest
  EXPECT_FALSE(ResolveShard("4/4", 4, &index, &count).ok());
  EXPECT_FALSE(ResolveShard("x/4", 4, &index, &count).ok());
  EXPECT_FALSE(ResolveShard("1/0", 4, &index, &count).ok());
  EXPECT_FALSE(ResolveShard("/4", 4, &index, &count).ok());  // "/N" needs a task id in the environment
  setenv("JOB_COMPLETION_INDEX", "1", 1);
  ASSERT_TRUE(ResolveShard("", 4, &index, &count).ok());
  EXPECT_EQ(index, 1);
  setenv("SLURM_ARRAY_TASK_ID", "3", 1);  // Slurm's wins
  ASSERT_TRUE(ResolveShard("/8", 4, &index, &count).ok());
  EXPECT_EQ(index, 3);
  EXPECT_EQ(count, 8);
  setenv("SLURM_ARRAY_TASK_ID", "9", 1);
  const Status st = ResolveShard("", 4, &index, &count);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("from the environment"), std::string::npos);
  unsetenv("SLURM_ARRAY_TASK_ID");
  unsetenv("JOB_COMPLETION_INDEX");
}

TEST(Manifest, RoundTripsEveryField) {
  TempDir tmp;
  Manifest m;
  m.model = "/models/a b/\"quoted\"";
  m.workdir = "/work/dir";
  m.scorer = "DLC_x";
  m.analyze_args = {"--csv", "--dest", "out dir/ü", "--crop", "1", "2", "3", "4"};
  m.save_csv = true;
  m.outputs = {".h5", ".csv", "_labeled.mp4", "_meta.pickle"};
  m.shards = 3;
  m.created = "host pid 1";
  m.videos.push_back({"/v/a\tb.mp4", 123, 456, "/o/aDLC_x", 2});
  m.videos.push_back({"/v/c.mp4", 1, 0, "/o/cDLC_x", 0});
  const std::string path = (tmp.path / "manifest.jsonl").string();
  ASSERT_TRUE(WriteManifest(path, m).ok());
  Manifest r;
  ASSERT_TRUE(ReadManifest(path, &r).ok());
  EXPECT_EQ(r.model, m.model);
  EXPECT_EQ(r.workdir, m.workdir);
  EXPECT_EQ(r.analyze_args, m.analyze_args);
  EXPECT_TRUE(r.save_csv);
  EXPECT_EQ(r.outputs, m.outputs);
  EXPECT_EQ(r.shards, 3);
  ASSERT_EQ(r.videos.size(), 2u);
  EXPECT_EQ(r.videos[0].path, "/v/a\tb.mp4");
  EXPECT_EQ(r.videos[0].size_bytes, 123);
  EXPECT_EQ(r.videos[0].frames, 456);
  EXPECT_EQ(r.videos[0].output_base, "/o/aDLC_x");
  EXPECT_EQ(r.videos[0].shard, 2);
}

TEST(Manifest, ErrorsNameTheFileAndLine) {
  TempDir tmp;
  const std::string path = (tmp.path / "m.jsonl").string();
  auto read_error = [&](const std::string& text) {
    std::ofstream(path) << text;
    Manifest m;
    return ReadManifest(path, &m).message();
  };
  EXPECT_NE(read_error("{\"a\": 1}\n").find("line 1: not a posebatch manifest"), std::string::npos);
  const std::string header =
      "{\"posebatch_manifest\": 1, \"model\": \"m\", \"workdir\": \"/\", \"scorer\": \"s\", \"save_csv\": false, "
      "\"shards\": 2, \"analyze_args\": []}\n";
  EXPECT_NE(read_error(header + "{\"video\": \"v\"}\n").find("line 2: missing \"size\""), std::string::npos);
  EXPECT_NE(read_error(header + "{broken\n").find("line 2: not valid JSON"), std::string::npos);
  EXPECT_NE(read_error(header + "{\"video\": \"v\", \"size\": 1, \"frames\": 1, \"output\": \"o\", \"shard\": 5}\n")
                .find("shard 5 is not in 0..1"),
            std::string::npos);
  EXPECT_NE(read_error("").find("empty campaign manifest"), std::string::npos);
  std::string no_outputs = header;
  no_outputs.insert(no_outputs.find("\"shards\""), "\"outputs\": [], ");
  EXPECT_NE(read_error(no_outputs).find("line 1: \"outputs\" must list the video's files"), std::string::npos);
  Manifest old;  // planned before the manifest listed its outputs: .h5, _meta.pickle
  std::ofstream(path) << header;
  ASSERT_TRUE(ReadManifest(path, &old).ok());
  EXPECT_EQ(old.outputs, (std::vector<std::string>{".h5", "_meta.pickle"}));
  Manifest m;
  EXPECT_EQ(ReadManifest((tmp.path / "missing").string(), &m).code(), StatusCode::kNotFound);
}

TEST(JsonText, EscapesWhatJsonNeeds) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t\x01é"), "\"a\\\"b\\\\c\\n\\t\\u0001é\"");
  EXPECT_EQ(JsonObject().Add("n", int64_t{3}).Add("x", std::nan("")).Add("ok", true).str(),
            "{\"n\": 3, \"x\": null, \"ok\": true}");
  EXPECT_EQ(JsonObject().AddTime("t", 1796500000.1234).str(), "{\"t\": 1796500000.123}");
}

TEST(OutputLock, OneHolderAcrossProcessesAndReleasedOnDeath) {
  TempDir tmp;
  const std::string path = (tmp.path / "v.lock").string();
  std::string holder;
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  if (child == 0) {  // holds the lock until told, then dies without cleaning up
    auto lock = OutputLock::TryAcquire(path, nullptr);
    char c = lock ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    if (read(go[0], &c, 1) != 1) _exit(2);
    _exit(0);  // no destructor: the file stays, the kernel drops the lock
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  EXPECT_EQ(OutputLock::TryAcquire(path, &holder), nullptr);
  EXPECT_NE(holder.find("pid " + std::to_string(child)), std::string::npos) << holder;
  EXPECT_TRUE(OutputLock::IsHeld(path, &holder));
  ASSERT_EQ(write(go[1], "x", 1), 1);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(fs::exists(path));  // left by the dead holder
  EXPECT_FALSE(OutputLock::IsHeld(path, nullptr));
  {
    auto lock = OutputLock::TryAcquire(path, nullptr);
    ASSERT_NE(lock, nullptr);  // a stale file never blocks
    EXPECT_TRUE(OutputLock::IsHeld(path, nullptr));
  }
  EXPECT_FALSE(fs::exists(path));  // the holder removes it
}

// Plan -> a task's log -> status, in process (the CLI tests run the same through processes;
// this one runs under ASan).
TEST(Campaign, PlanTaskLogAndStatusAgree) {
  TempDir tmp;
  const std::string model = testing::Fixture("models/good");
  std::vector<std::string> videos;
  for (const char* name : {"index_h264.mp4", "index_mjpeg.avi", "index_mpeg4.avi"}) {
    videos.push_back((tmp.path / name).string());
    fs::copy_file(testing::Fixture(std::string("videos/") + name), videos.back());
  }
  const std::string list = (tmp.path / "videos.txt").string();
  std::ofstream(list) << "# the first two, by name\nindex_h264.mp4\nindex_mjpeg.avi\n";
  PlanOptions plan;
  plan.shards = 2;
  plan.analyze_args = {"--csv"};
  plan.analyze.save_csv = true;
  plan.analyze.dest_dir = (tmp.path / "out").string();
  const std::string dir = (tmp.path / "campaign").string();
  Manifest m;
  ASSERT_TRUE(PlanCampaign(model, {list, videos[2], videos[0]}, plan, dir, &m).ok());
  ASSERT_EQ(m.videos.size(), 3u);  // the duplicate counts once
  EXPECT_EQ(m.videos[0].path, videos[0]);
  for (const auto& v : m.videos) EXPECT_EQ(v.frames, 75);
  EXPECT_TRUE(m.save_csv);
  EXPECT_EQ(PlanCampaign(model, {videos[0]}, plan, dir, &m).code(), StatusCode::kInvalidArgument);  // exists

  CampaignReport r;
  ASSERT_TRUE(ReadCampaignStatus(dir, &r).ok());
  EXPECT_EQ(r.count(VideoState::kPending), 3);
  EXPECT_EQ(r.rerun, (std::vector<int>{0, 1}));

  // Task 0 "analyses" its videos: the log says so and the outputs appear.
  const std::vector<size_t> mine = ShardVideos(r.manifest, 0, 2);
  ASSERT_FALSE(mine.empty());
  std::unique_ptr<CampaignTaskLog> log;
  ASSERT_TRUE(CampaignTaskLog::Open(dir, 0, 2, static_cast<int>(mine.size()), &log).ok());
  std::unique_ptr<CampaignTaskLog> twice;
  EXPECT_EQ(CampaignTaskLog::Open(dir, 0, 2, 1, &twice).code(), StatusCode::kIOError);  // already running
  ASSERT_TRUE(ReadCampaignStatus(dir, &r).ok());
  EXPECT_EQ(r.tasks[0].state, "running");
  EXPECT_EQ(r.rerun, (std::vector<int>{1}));  // task 0 has a live process
  for (size_t i : mine) {
    const CampaignVideo& v = m.videos[i];
    log->OnInputStart(v.path, v.frames);
    log->OnProgress(v.path, Progress{40, 75, 0.5});
    for (const char* ext : {".h5", ".csv", "_meta.pickle"}) {
      fs::create_directories(fs::path(v.output_base).parent_path());
      std::ofstream(v.output_base + ext) << "x";
    }
    InputResult done;
    done.input = v.path;
    done.rows = 75;
    done.stats.frames = 75;
    done.stats.wall_seconds = 0.5;
    done.lost_frames = i == mine.front();
    log->OnInputDone(done);
  }
  log->Finish("done");
  log.reset();
  ASSERT_TRUE(ReadCampaignStatus(dir, &r).ok());
  EXPECT_EQ(r.tasks[0].state, "done");
  EXPECT_EQ(r.tasks[0].frames, static_cast<int64_t>(75 * mine.size()));
  EXPECT_NEAR(r.tasks[0].fps, 150.0, 1e-6);
  EXPECT_EQ(r.count(VideoState::kDone), static_cast<int>(mine.size()));
  EXPECT_EQ(r.lost(), 1);
  EXPECT_EQ(r.rerun, (std::vector<int>{1}));
  EXPECT_FALSE(r.complete());
  for (size_t i : mine) EXPECT_EQ(r.videos[i].analysed, 1);
  // Task 1's video: interrupted (a journal), then failed.
  const size_t other = ShardVideos(r.manifest, 1, 2).front();
  std::ofstream(m.videos[other].output_base + ".resume") << "not a journal";
  ASSERT_TRUE(ReadCampaignStatus(dir, &r).ok());
  EXPECT_EQ(r.videos[other].state, VideoState::kInterrupted);
  EXPECT_EQ(r.videos[other].journal_rows, 0);  // unreadable: no rows claimed
  fs::remove(m.videos[other].output_base + ".resume");
  ASSERT_TRUE(CampaignTaskLog::Open(dir, 1, 2, 1, &log).ok());
  InputResult failed;
  failed.input = m.videos[other].path;
  failed.status = Status::Corrupt(failed.input + ": broken");
  log->OnInputDone(failed);
  log->Finish("failed");
  log.reset();
  ASSERT_TRUE(ReadCampaignStatus(dir, &r).ok());
  EXPECT_EQ(r.videos[other].state, VideoState::kFailed);
  EXPECT_NE(r.videos[other].detail.find("broken"), std::string::npos);
  const std::string json = CampaignReportJson(r);
  EXPECT_NE(json.find("\"failed\": 1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rerun\": [1]"), std::string::npos) << json;
}

TEST(Campaign, SlurmScriptRunsTheTasks) {
  Manifest m;
  m.workdir = "/data/it's here";
  m.shards = 3;
  SlurmOptions o;
  o.posebatch = "/opt/pb/posebatch";
  o.tasks = {0, 2};
  o.time = "1:00:00";
  const std::string script = SlurmScript("/c", m, o);
  EXPECT_NE(script.find("#SBATCH --array=0,2\n"), std::string::npos);
  EXPECT_NE(script.find("cd '/data/it'\\''s here'"), std::string::npos) << script;
  EXPECT_NE(script.find("--shard \"$task/3\""), std::string::npos);
  EXPECT_NE(script.find("#SBATCH --signal=B:USR1@300"), std::string::npos);
  EXPECT_EQ(script.find("--partition"), std::string::npos);  // not given: the cluster's default
}

}  // namespace
}  // namespace posebatch
