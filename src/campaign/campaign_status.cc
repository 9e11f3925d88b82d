// ReadCampaignStatus: the manifest, each video's files, and each task's heartbeat and events.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "campaign/json_text.h"
#include "campaign/task_log.h"
#include "io/output_lock.h"
#include "io/resume_journal.h"
#include "posebatch/campaign.h"
#include "posebatch/video_outputs.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// Rows of the resume journal at `path` (its header names the column count), 0 if unreadable.
int64_t JournalRows(const std::string& path) {
  try {
    const JournalContents head = ReadJournal(path, 0);
    size_t ncols = 0;
    bool boxes = false;
    for (const auto& [key, value] : head.header) {
      if (key == "columns") ncols = static_cast<size_t>(std::stoul(value.substr(0, value.find(':'))));
      if (key == "journal_boxes") boxes = value == "1";
    }
    if (!head.problem.empty() || ncols == 0) return 0;
    return ReadJournal(path, ncols, boxes).rows();
  } catch (...) {
    return 0;
  }
}

// What the event logs say about one video.
struct VideoHistory {
  int analysed = 0;        // "done" events with outcome analysed
  std::string last;        // the last outcome
  std::string last_error;  // with it
  bool lost_frames = false;
  double last_time = 0;
};

// Reads tasks/<I>.events.jsonl of every task that left one; lines that do not parse (a torn
// last line of a killed task) are skipped.
std::map<std::string, VideoHistory> ReadHistories(const std::string& dir, int tasks) {
  std::map<std::string, VideoHistory> history;
  for (int t = 0; t < tasks; ++t) {
    std::ifstream in(campaign_files::Events(dir, t));
    std::string line;
    while (std::getline(in, line)) {
      YAML::Node e;
      try {
        e = YAML::Load(line);
        if (!e.IsMap() || !e["event"] || e["event"].as<std::string>() != "done") continue;
        VideoHistory& h = history[e["video"].as<std::string>()];
        const double time = e["time"].as<double>();
        const std::string outcome = e["outcome"].as<std::string>();
        if (outcome == "analysed") ++h.analysed;
        if (time >= h.last_time) {
          h.last_time = time;
          h.last = outcome;
          h.last_error = e["error"] ? e["error"].as<std::string>() : "";
          if (outcome == "analysed") h.lost_frames = e["lost_frames"].as<bool>();
        }
      } catch (const YAML::Exception&) {
        continue;
      }
    }
  }
  return history;
}

TaskStatus ReadTask(const std::string& dir, int index) {
  TaskStatus t;
  t.index = index;
  t.state = "not started";
  std::string holder;
  const bool live = OutputLock::IsHeld(campaign_files::TaskLock(dir, index), &holder);
  try {
    const YAML::Node h = YAML::LoadFile(campaign_files::Heartbeat(dir, index));
    t.state = h["state"].as<std::string>();
    t.host = h["host"].as<std::string>();
    t.slurm_job = h["slurm_job"].as<std::string>();
    t.videos_finished = h["videos_finished"].as<int>();
    t.frames = h["frames"].as<int64_t>();
    t.seconds = h["seconds"].as<double>();
    t.fps = h["fps"].as<double>();
    t.current = h["current"].as<std::string>();
    t.updated_ago = UnixSeconds() - h["updated"].as<double>();
  } catch (const YAML::Exception&) {
    // no heartbeat yet (or a torn one from an old writer): "not started" unless the lock says more
  }
  if (live) {
    t.state = "running";
  } else if (t.state == "running") {
    // The process is gone without saying so (kill -9, node lost, scancel past KillWait).
    t.state = "lost";
    t.current.clear();
  }
  return t;
}

}  // namespace

const char* VideoStateName(VideoState state) {
  switch (state) {
    case VideoState::kPending:
      return "pending";
    case VideoState::kRunning:
      return "running";
    case VideoState::kInterrupted:
      return "interrupted";
    case VideoState::kFailed:
      return "failed";
    case VideoState::kDone:
      return "done";
  }
  return "?";
}

int CampaignReport::count(VideoState state) const {
  return static_cast<int>(
      std::count_if(videos.begin(), videos.end(), [&](const VideoStatus& v) { return v.state == state; }));
}

int CampaignReport::lost() const {
  return static_cast<int>(std::count_if(videos.begin(), videos.end(), [](const VideoStatus& v) {
    return v.state == VideoState::kDone && v.lost_frames;
  }));
}

bool CampaignReport::complete() const { return count(VideoState::kDone) == static_cast<int>(videos.size()); }

Status ReadCampaignStatus(const std::string& dir, CampaignReport* report) {
  CampaignReport r;
  Status st = ReadManifest(campaign_files::Manifest(dir), &r.manifest);
  if (!st.ok()) return st;
  try {
    // The task count in use: the word ("of") of the most recently updated task heartbeat, else
    // the plan's (tasks may have re-split the campaign: --shard I/M).
    r.shards = r.manifest.shards;
    double newest = -1;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / "tasks", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() < 6 || name.compare(name.size() - 5, 5, ".json") != 0 ||
          name.find_first_not_of("0123456789") != name.size() - 5) {
        continue;  // only <I>.json heartbeats
      }
      try {
        const YAML::Node h = YAML::LoadFile(entry.path().string());
        const double updated = h["updated"].as<double>();
        if (updated > newest) newest = updated, r.shards = h["of"].as<int>();
      } catch (const YAML::Exception&) {
        // a torn heartbeat from an old writer: its task's word is not known
      }
    }
    const std::map<std::string, VideoHistory> history = ReadHistories(dir, std::max(r.shards, r.manifest.shards));
    const std::vector<int> shard_of = ShardOf(r.manifest, r.shards);
    std::vector<int> shard_videos(static_cast<size_t>(r.shards), 0);
    for (const int s : shard_of) ++shard_videos[static_cast<size_t>(s)];
    for (size_t i = 0; i < r.manifest.videos.size(); ++i) {
      const CampaignVideo& mv = r.manifest.videos[i];
      VideoStatus v;
      v.path = mv.path;
      v.shard = shard_of[i];
      v.frames = mv.frames;
      const auto h = history.find(mv.path);
      if (h != history.end()) v.analysed = h->second.analysed;
      const std::string& base = mv.output_base;
      std::string holder;
      const bool done = VideoOutputsComplete(base, r.manifest.outputs);  // analyze's own rule
      if (OutputLock::IsHeld(base + ".lock", &holder)) {
        v.state = VideoState::kRunning;
        v.detail = holder;
      } else if (done) {
        v.state = VideoState::kDone;
        v.lost_frames = h != history.end() && h->second.lost_frames;
      } else if (Exists(base + ".resume")) {
        v.state = VideoState::kInterrupted;
        v.journal_rows = JournalRows(base + ".resume");
      } else if (h != history.end() && h->second.last == "failed") {
        v.state = VideoState::kFailed;
        v.detail = h->second.last_error;
      }
      r.videos.push_back(std::move(v));
    }
    std::set<int> busy_tasks;
    for (int t = 0; t < r.shards; ++t) {
      TaskStatus task = ReadTask(dir, t);
      task.videos = shard_videos[static_cast<size_t>(t)];
      if (task.state == "running") busy_tasks.insert(t);
      r.tasks.push_back(std::move(task));
    }
    // Rerun: tasks owning unfinished videos with no live process on them.
    std::set<int> rerun;
    for (const auto& v : r.videos)
      if (v.state != VideoState::kDone && v.state != VideoState::kRunning && !busy_tasks.count(v.shard)) {
        rerun.insert(v.shard);
      }
    r.rerun.assign(rerun.begin(), rerun.end());
    *report = std::move(r);
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

std::string CampaignReportJson(const CampaignReport& r) {
  std::string videos = "[", tasks = "[";
  for (size_t i = 0; i < r.videos.size(); ++i) {
    const VideoStatus& v = r.videos[i];
    videos += (i ? ", " : "") + JsonObject()
                                    .Add("video", v.path)
                                    .Add("shard", v.shard)
                                    .Add("state", VideoStateName(v.state))
                                    .Add("lost_frames", v.lost_frames)
                                    .Add("frames", v.frames)
                                    .Add("journal_rows", v.journal_rows)
                                    .Add("analysed", v.analysed)
                                    .Add("detail", v.detail)
                                    .str();
  }
  for (size_t i = 0; i < r.tasks.size(); ++i) {
    const TaskStatus& t = r.tasks[i];
    tasks += (i ? ", " : "") + JsonObject()
                                   .Add("task", t.index)
                                   .Add("state", t.state)
                                   .Add("host", t.host)
                                   .Add("slurm_job", t.slurm_job)
                                   .Add("videos", t.videos)
                                   .Add("videos_finished", t.videos_finished)
                                   .Add("frames", t.frames)
                                   .Add("seconds", t.seconds)
                                   .Add("fps", t.fps)
                                   .Add("updated_ago", t.updated_ago)
                                   .Add("current", t.current)
                                   .str();
  }
  const JsonObject counts = JsonObject()
                                .Add("videos", r.videos.size())
                                .Add("done", r.count(VideoState::kDone))
                                .Add("lost_frames", r.lost())
                                .Add("running", r.count(VideoState::kRunning))
                                .Add("interrupted", r.count(VideoState::kInterrupted))
                                .Add("failed", r.count(VideoState::kFailed))
                                .Add("pending", r.count(VideoState::kPending));
  return JsonObject()
      .Add("model", r.manifest.model)
      .Add("scorer", r.manifest.scorer)
      .Add("shards", r.shards)
      .Add("complete", r.complete())
      .AddRaw("counts", counts.str())
      .Add("rerun", r.rerun)
      .AddRaw("videos", videos + "]")
      .AddRaw("tasks", tasks + "]")
      .str();
}

}  // namespace posebatch
