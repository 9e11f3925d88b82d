// CampaignTaskLog: what one task tells the campaign folder while it runs.
#include "campaign/task_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "campaign/json_text.h"
#include "io/output_lock.h"
#include "posebatch/campaign.h"
#include "posebatch/progress_json.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace campaign_files {

std::string Manifest(const std::string& dir) { return (fs::path(dir) / "manifest.jsonl").string(); }
std::string TasksDir(const std::string& dir) { return (fs::path(dir) / "tasks").string(); }
std::string Heartbeat(const std::string& dir, int task) {
  return (fs::path(TasksDir(dir)) / (std::to_string(task) + ".json")).string();
}
std::string Events(const std::string& dir, int task) {
  return (fs::path(TasksDir(dir)) / (std::to_string(task) + ".events.jsonl")).string();
}
std::string TaskLock(const std::string& dir, int task) {
  return (fs::path(TasksDir(dir)) / (std::to_string(task) + ".lock")).string();
}

}  // namespace campaign_files

namespace {
constexpr double kHeartbeatSeconds = 2.0;  // how often a running task rewrites its heartbeat
}

struct CampaignTaskLog::Impl {
  std::string dir;
  int index = 0, count = 1, videos = 0;
  std::unique_ptr<OutputLock> lock;
  int events_fd = -1;
  std::string host = HostName(), job = SlurmJobName();
  double started = UnixSeconds();

  std::mutex mu;  // OnProgress comes from the pipeline's writer thread
  std::string state = "running", current;
  int videos_finished = 0;
  int64_t frames_before = 0;   // frames of this run's finished videos
  double seconds_before = 0;   // their analysis time
  int64_t frames_current = 0;  // the running video's, from its progress
  double seconds_current = 0;
  double last_write = 0;

  void WriteHeartbeat() {  // with mu held
    const int64_t frames = frames_before + frames_current;
    const double seconds = seconds_before + seconds_current;
    const std::string text = JsonObject()
                                 .Add("task", index)
                                 .Add("of", count)
                                 .Add("state", state)
                                 .Add("host", host)
                                 .Add("pid", static_cast<int64_t>(getpid()))
                                 .Add("slurm_job", job)
                                 .AddTime("started", started)
                                 .AddTime("updated", UnixSeconds())
                                 .Add("videos", videos)
                                 .Add("videos_finished", videos_finished)
                                 .Add("frames", frames)
                                 .Add("seconds", seconds)
                                 .Add("fps", seconds > 0 ? static_cast<double>(frames) / seconds : 0.0)
                                 .Add("current", current)
                                 .str() +
                             "\n";
    try {
      WriteFileAtomically(campaign_files::Heartbeat(dir, index), text);
    } catch (const Error&) {
      // A full disk must not stop the analysis: the heartbeat is only a report.
    }
    last_write = UnixSeconds();
  }

  void Event(JsonObject event) {
    if (events_fd < 0) return;
    const std::string line = event.AddTime("time", UnixSeconds())
                                 .Add("task", index)
                                 .Add("of", count)
                                 .Add("host", host)
                                 .Add("slurm_job", job)
                                 .str() +
                             "\n";
    // One write() of one line with O_APPEND: lines from a rerun of the same task never interleave.
    if (write(events_fd, line.data(), line.size()) < 0) {
      // As for the heartbeat: a report, not the work.
    }
  }
};

CampaignTaskLog::CampaignTaskLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CampaignTaskLog::~CampaignTaskLog() {
  if (impl_->events_fd >= 0) close(impl_->events_fd);
}

Status CampaignTaskLog::Open(const std::string& dir, int index, int count, int videos,
                             std::unique_ptr<CampaignTaskLog>* log) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    impl->index = index;
    impl->count = count;
    impl->videos = videos;
    fs::create_directories(campaign_files::TasksDir(dir));
    std::string holder;
    impl->lock = OutputLock::TryAcquire(campaign_files::TaskLock(dir, index), &holder);
    if (impl->lock == nullptr) {
      return Status::IOError("task " + std::to_string(index) + " of " + dir + " is already running (" + holder + ")");
    }
    const std::string events = campaign_files::Events(dir, index);
    impl->events_fd = open(events.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (impl->events_fd < 0) return Status::IOError(events + ": cannot open the task's event log");
    {
      std::lock_guard<std::mutex> hold(impl->mu);
      impl->WriteHeartbeat();
    }
    impl->Event(
        JsonObject().Add("event", "task_start").Add("videos", videos).Add("pid", static_cast<int64_t>(getpid())));
    log->reset(new CampaignTaskLog(std::move(impl)));
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

void CampaignTaskLog::OnInputStart(const std::string& video, int64_t frames_total) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->current = video;
  impl_->frames_current = 0;
  impl_->seconds_current = 0;
  impl_->Event(JsonObject().Add("event", "start").Add("video", video).Add("frames_total", frames_total));
  impl_->WriteHeartbeat();
}

void CampaignTaskLog::OnProgress(const std::string& /*video*/, const Progress& progress) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->frames_current = progress.frames_done;
  impl_->seconds_current = progress.elapsed_seconds;
  if (UnixSeconds() - impl_->last_write >= kHeartbeatSeconds) impl_->WriteHeartbeat();
}

void CampaignTaskLog::OnInputDone(const InputResult& r) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  const char* outcome = InputOutcome(r);
  ++impl_->videos_finished;
  impl_->frames_before += r.stats.frames;
  impl_->seconds_before += r.stats.wall_seconds;
  impl_->frames_current = 0;
  impl_->seconds_current = 0;
  impl_->current.clear();
  JsonObject event;
  event.Add("event", "done")
      .Add("video", r.input)
      .Add("outcome", outcome)
      .Add("rows", r.rows)
      .Add("resumed_rows", r.resumed_rows)
      .Add("frames", r.stats.frames)
      .Add("lost_frames", r.lost_frames)
      .Add("seconds", r.stats.wall_seconds);
  if (!r.status.ok()) event.Add("error", r.status.message());
  impl_->Event(std::move(event));
  impl_->WriteHeartbeat();
}

void CampaignTaskLog::Finish(const std::string& state) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->state = state;
  impl_->Event(JsonObject().Add("event", "task_end").Add("state", state));
  impl_->WriteHeartbeat();
}

}  // namespace posebatch
