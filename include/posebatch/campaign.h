// Campaigns: many videos analysed by many processes (Slurm job arrays, Kubernetes Indexed Jobs,
// or a loop in a shell). A campaign is a folder:
//
//   manifest.jsonl      what to analyse: a header line (model, scorer, the analyze options as
//                       command-line arguments, shard count) and one line per video (path, size,
//                       frames, output base, planned shard). Written once by PlanCampaign.
//   tasks/<I>.json      task I's heartbeat: host, state, frames and fps, current video (rewritten
//                       every few seconds by its CampaignTaskLog; atomic rename)
//   tasks/<I>.events.jsonl  task I's video events (start, done, skipped, failed, stopped), appended
//   tasks/<I>.lock      held (flock) while task I runs
//   job.sbatch, logs/   what `posebatch slurm` writes and submits
//
// A video's own state lives beside its outputs: <base>.h5 (done), <base>.resume (interrupted,
// resumable), <base>.lock (being analysed). ReadCampaignStatus puts the two together.
//
// Errors: functions return Status and never throw (status.h).
// Code: src/campaign/ (plan.cc, manifest.cc, shards.cc, campaign_status.cc, slurm_script.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "posebatch/analyze.h"
#include "posebatch/status.h"

namespace posebatch {

struct CampaignVideo {
  std::string path;         // absolute
  int64_t size_bytes = 0;   // file size when planned
  int64_t frames = 0;       // frames to analyse (the container's count, within the frame range)
  std::string output_base;  // <dest>/<stem><scorer>: outputs are output_base + ".h5", ...
  int shard = 0;            // the planned shard (of Manifest::shards)
};

struct Manifest {
  std::string model;                      // the model path, absolute
  std::string workdir;                    // where the plan was made: relative paths in analyze_args
  std::string scorer;                     // the scorer level of every output
  std::vector<std::string> analyze_args;  // the analyze options, as `posebatch analyze` arguments
  bool save_csv = false;                  // outputs include .csv
  // Each video's output files, as suffixes of its output_base (VideoOutputSuffixes): a video is
  // done when all exist, for status as for analyze. Manifests from before this field: .h5,
  // _meta.pickle and, with save_csv, .csv.
  std::vector<std::string> outputs;
  int shards = 1;                     // planned shard count (an array of this many tasks)
  std::string created;                // when and by whom (ProcessIdentity)
  std::vector<CampaignVideo> videos;  // in the order the inputs name them (folders sorted)
};

// Manifest I/O (JSON lines). Read fails with kInvalidArgument naming the file and line.
Status WriteManifest(const std::string& path, const Manifest& manifest);
Status ReadManifest(const std::string& path, Manifest* manifest);

// Shards balanced by frames: longest video first, each to the shard with the fewest frames so
// far (ties: lowest shard). Deterministic: every task computes the same split. Returns the
// shard of each video.
std::vector<int> AssignShards(const std::vector<int64_t>& frames, int shards);
// Max shard frames / mean shard frames (1 = perfect balance).
double ShardImbalance(const std::vector<int64_t>& frames, const std::vector<int>& shard_of, int shards);

// The shard of each video in a split into `count`: the planned split when count ==
// manifest.shards, else AssignShards(frames, count).
std::vector<int> ShardOf(const Manifest& manifest, int count);
// The videos (indices into manifest.videos) of shard `index` of ShardOf(manifest, count).
std::vector<size_t> ShardVideos(const Manifest& manifest, int index, int count);

struct PlanOptions {
  int shards = 1;                         // tasks the campaign is split into
  std::vector<std::string> analyze_args;  // recorded for the tasks (the CLI's own syntax)
  AnalyzeOptions analyze;                 // the same options, parsed: dest, scorer, csv, frames
};

// Expands `inputs` (videos, folders of videos, and text files (.txt, .list) naming one video or
// folder per line; '#' starts a comment), probes each video's frame count, loads the model
// (to check it and name the scorer), splits the videos into shards and writes
// <dir>/manifest.jsonl. Fails if the folder already holds a manifest. Duplicate paths count once.
Status PlanCampaign(const std::string& model_path, const std::vector<std::string>& inputs, const PlanOptions& options,
                    const std::string& dir, Manifest* manifest);

// Which task this process is: `index`/`count` from "I/N" or "I" (N = the manifest's shards), or
// from $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) when `spec` is
// empty. *index = -1 when nothing names a task (the whole manifest).
Status ResolveShard(const std::string& spec, int planned_shards, int* index, int* count);

// Records one task's run in the campaign folder (heartbeat, events, task lock). Not
// thread-safe except OnProgress, which the pipeline's writer thread may call while the owner
// waits in Analyze.
class CampaignTaskLog {
 public:
  // Takes tasks/<index>.lock: fails with kIOError if another live process runs this task.
  static Status Open(const std::string& dir, int index, int count, int videos, std::unique_ptr<CampaignTaskLog>* log);
  ~CampaignTaskLog();
  void OnInputStart(const std::string& video, int64_t frames_total);
  void OnProgress(const std::string& video, const Progress& progress);
  void OnInputDone(const InputResult& result);
  // The task ends: "done", "failed", "stopped" (graceful stop / cancel). Writes the last heartbeat.
  void Finish(const std::string& state);

 private:
  struct Impl;
  explicit CampaignTaskLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class VideoState {
  kPending,      // nothing yet
  kRunning,      // its lock is held: a live process analyses it
  kInterrupted,  // a resume journal holds completed chunks; no process runs it
  kFailed,       // the last attempt failed (no outputs)
  kDone,         // outputs complete
};
const char* VideoStateName(VideoState state);

struct VideoStatus {
  std::string path;
  int shard = 0;  // of CampaignReport::shards
  VideoState state = VideoState::kPending;
  bool lost_frames = false;  // done, but frames could not be decoded (rows of NaN)
  int64_t frames = 0;        // planned frames
  int64_t journal_rows = 0;  // interrupted: rows the journal holds
  int analysed = 0;          // completed analyses recorded in the task logs (1 for a clean campaign)
  std::string detail;        // failed: the error; running: the lock holder
};

struct TaskStatus {
  int index = 0;
  std::string state;        // "running", "done", "failed", "stopped", "lost" (heartbeat stale, no lock),
                            // "not started"
  std::string host;         // of the last run
  std::string slurm_job;    // "J_T" when run by Slurm
  int videos = 0;           // videos in the shard
  int videos_finished = 0;  // done/skipped/failed by its last run
  int64_t frames = 0;       // frames analysed by its last run
  double seconds = 0;       // analysis time of its last run
  double fps = 0;           // frames / seconds
  double updated_ago = -1;  // seconds since the heartbeat (-1: none)
  std::string current;      // running: the video
};

struct CampaignReport {
  Manifest manifest;
  int shards = 0;                   // the task count in use (the latest task logs', else planned)
  std::vector<VideoStatus> videos;  // manifest order
  std::vector<TaskStatus> tasks;    // 0..shards-1
  std::vector<int> rerun;           // tasks with unfinished work and no live process
  int count(VideoState state) const;
  int lost() const;       // done with lost frames
  bool complete() const;  // every video done
};

// The campaign as its files say now. Reads only (takes no lock that a task could meet).
Status ReadCampaignStatus(const std::string& dir, CampaignReport* report);

// The report as JSON (one object), for scripts and dashboards.
std::string CampaignReportJson(const CampaignReport& report);

struct SlurmOptions {
  int array = 0;                                         // tasks; 0 = the manifest's shards
  std::vector<int> tasks;                                // only these task ids (a rerun); empty = all
  std::string partition, time, mem, gres, account, qos;  // sbatch options; empty = the cluster's default
  int cpus_per_task = 0;                                 // 0 = the cluster's default; also posebatch's --threads
  int max_parallel = 0;                                  // %N: at most N tasks at once; 0 = no limit
  int stop_before_limit_s = 300;          // SIGUSR1 this long before the time limit: stop at a chunk, requeue
  std::vector<std::string> extra_sbatch;  // more "#SBATCH ..." option lines, verbatim
  std::string posebatch;                  // the posebatch binary to run (absolute)
};

// `text` as one bash word: single quotes, a quote inside written as '\''.
std::string ShellQuote(const std::string& text);

// The sbatch script of a campaign: an array of tasks, each `posebatch analyze --manifest ...
// --shard $SLURM_ARRAY_TASK_ID/N --resume --progress json`, per-task logs in <dir>/logs,
// --requeue; on the time-limit warning the task stops at a chunk and requeues itself.
std::string SlurmScript(const std::string& dir, const Manifest& manifest, const SlurmOptions& options);

}  // namespace posebatch
