#include "campaign_commands.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "report.h"

namespace fs = std::filesystem;

namespace posebatch::cli {
namespace {

// This binary's absolute path (the sbatch script runs the same posebatch).
std::string SelfPath(const std::string& argv0) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::absolute(argv0).string() : self.string();
}

std::string Seconds(double s) {
  if (s < 0) return "-";
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  }
  return buf;
}

std::string Join(const std::vector<int>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + std::to_string(v[i]);
  return out;
}

int RunPlan(CampaignCommands& c) {
  const AnalyzeOptions& o = c.plan_options;
  PlanOptions p;
  p.shards = c.shards;
  p.analyze = o;
  p.analyze_args = GivenOptionArgs(*c.plan, {"out", "shards"});
  Manifest m;
  Status st = PlanCampaign(c.plan_args.model, c.plan_args.inputs, p, c.plan_dir, &m);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kNotFound ? kExitUsage : kExitFailed;
  }
  std::vector<int64_t> frames;
  std::vector<int> shard_of;
  int64_t total = 0;
  for (const auto& v : m.videos) {
    frames.push_back(v.frames);
    shard_of.push_back(v.shard);
    total += v.frames;
  }
  std::vector<int64_t> load(static_cast<size_t>(m.shards), 0);
  std::vector<int> count(static_cast<size_t>(m.shards), 0);
  for (const auto& v : m.videos) {
    load[static_cast<size_t>(v.shard)] += v.frames;
    ++count[static_cast<size_t>(v.shard)];
  }
  const std::string manifest = (fs::path(c.plan_dir) / "manifest.jsonl").string();
  std::printf("%s: %zu videos, %lld frames, %d shards (scorer %s)\n", manifest.c_str(), m.videos.size(),
              static_cast<long long>(total), m.shards, m.scorer.c_str());
  std::printf("shard balance: max/mean frames %.3f\n", ShardImbalance(frames, shard_of, m.shards));
  if (m.shards <= 64) {
    for (int s = 0; s < m.shards; ++s)
      std::printf("  shard %d: %d videos, %lld frames\n", s, count[static_cast<size_t>(s)],
                  static_cast<long long>(load[static_cast<size_t>(s)]));
  }
  std::printf("next: posebatch slurm %s   (or: posebatch analyze --manifest %s --shard I/%d)\n", c.plan_dir.c_str(),
              manifest.c_str(), m.shards);
  return kExitOk;
}

int RunSlurm(CampaignCommands& c, const std::string& argv0) {
  CampaignReport report;
  Status st = ReadCampaignStatus(c.slurm_dir, &report);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return kExitUsage;
  }
  SlurmOptions o = c.slurm_options;
  o.posebatch = SelfPath(argv0);
  if (o.array <= 0) o.array = report.shards;
  if (c.slurm_tasks == "rerun") {
    if (o.array != report.shards) {
      std::cerr << "error: --tasks rerun: the campaign runs as " << report.shards << " tasks, not " << o.array << "\n";
      return kExitUsage;
    }
    o.tasks = report.rerun;
    if (o.tasks.empty()) {
      std::printf("%s: nothing to rerun (%d of %zu videos done, %d running)\n", c.slurm_dir.c_str(),
                  report.count(VideoState::kDone), report.videos.size(), report.count(VideoState::kRunning));
      return kExitOk;
    }
  } else if (!c.slurm_tasks.empty()) {
    std::stringstream list(c.slurm_tasks);
    std::string item;
    while (std::getline(list, item, ',')) {
      if (item.empty() || item.size() > 9 || item.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(item) >= o.array) {
        std::cerr << "error: --tasks expects task ids below " << o.array << " separated by commas, or 'rerun'; got '"
                  << c.slurm_tasks << "'\n";
        return kExitUsage;
      }
      o.tasks.push_back(std::stoi(item));
    }
  }
  const std::string script = SlurmScript(c.slurm_dir, report.manifest, o);
  if (c.dry_run) {
    std::fputs(script.c_str(), stdout);
    return kExitOk;
  }
  const fs::path dir = fs::absolute(c.slurm_dir);
  std::error_code ec;
  fs::create_directories(dir / "logs", ec);
  const std::string script_path = (dir / "job.sbatch").string();
  {
    std::ofstream out(script_path);
    out << script;
    if (!out) {
      std::cerr << "error: " << script_path << ": cannot write the job script\n";
      return kExitFailed;
    }
  }
  const std::string command = "sbatch --parsable " + ShellQuote(script_path) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::cerr << "error: cannot run sbatch\n";
    return kExitFailed;
  }
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  const int rc = pclose(pipe);
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (rc != 0) {
    std::cerr << "error: sbatch " << script_path << " failed: " << (output.empty() ? "(no output)" : output) << "\n";
    return kExitFailed;
  }
  const std::string job = output.substr(0, output.find(';'));  // --parsable: "id[;cluster]"
  std::ofstream jobs((dir / "jobs.log").string(), std::ios::app);
  jobs << job << " " << (o.tasks.empty() ? "0-" + std::to_string(o.array - 1) : Join(o.tasks, ",")) << " "
       << script_path << "\n";
  std::printf("submitted job %s: %s of %d tasks; logs in %s/logs; `posebatch status %s`\n", job.c_str(),
              o.tasks.empty() ? "all" : ("tasks " + Join(o.tasks, ",")).c_str(), o.array, dir.c_str(),
              c.slurm_dir.c_str());
  return kExitOk;
}

int StatusExit(const CampaignReport& r) {
  if (r.count(VideoState::kFailed) > 0) return kExitFailed;
  if (!r.complete()) return kExitUnfinished;
  if (r.lost() > 0) return kExitLostFrames;
  return kExitOk;
}

int RunStatus(CampaignCommands& c) {
  CampaignReport r;
  Status st = ReadCampaignStatus(c.status_dir, &r);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return kExitUsage;
  }
  const int code = StatusExit(r);
  if (c.status_json) {
    std::printf("%s\n", CampaignReportJson(r).c_str());
    return code;
  }
  int64_t frames = 0, frames_done = 0;
  for (const auto& v : r.videos) {
    frames += v.frames;
    if (v.state == VideoState::kDone) frames_done += v.frames;
  }
  std::printf("campaign %s: %zu videos, %lld frames, %d tasks, scorer %s\n", c.status_dir.c_str(), r.videos.size(),
              static_cast<long long>(frames), r.shards, r.manifest.scorer.c_str());
  std::printf(
      "videos: %d done (%d with lost frames), %d running, %d interrupted, %d failed, %d pending; "
      "%.1f%% of frames done\n",
      r.count(VideoState::kDone), r.lost(), r.count(VideoState::kRunning), r.count(VideoState::kInterrupted),
      r.count(VideoState::kFailed), r.count(VideoState::kPending),
      frames > 0 ? 100.0 * static_cast<double>(frames_done) / static_cast<double>(frames) : 100.0);
  std::printf("\n| task | state | host | job | videos | frames | fps | heartbeat |\n");
  std::printf("|---:|---|---|---|---:|---:|---:|---|\n");
  for (const auto& t : r.tasks) {
    std::printf("| %d | %s | %s | %s | %d/%d | %lld | %.1f | %s |\n", t.index, t.state.c_str(),
                t.host.empty() ? "-" : t.host.c_str(), t.slurm_job.empty() ? "-" : t.slurm_job.c_str(),
                t.videos_finished, t.videos, static_cast<long long>(t.frames), t.fps,
                t.updated_ago < 0 ? "-" : (Seconds(t.updated_ago) + " ago").c_str());
  }
  bool header = false;
  for (const auto& v : r.videos) {
    if (v.state == VideoState::kDone && !v.lost_frames) continue;
    if (!header) std::printf("\nnot done (or lost frames):\n");
    header = true;
    std::string line = std::string("  ") + VideoStateName(v.state) + (v.lost_frames ? " (lost frames)" : "") +
                       "  task " + std::to_string(v.shard) + "  " + v.path;
    if (v.state == VideoState::kInterrupted) line += "  (" + std::to_string(v.journal_rows) + " frames in its journal)";
    if (!v.detail.empty()) line += "\n      " + v.detail;
    std::printf("%s\n", line.c_str());
  }
  for (const auto& v : r.videos)
    if (v.analysed > 1) std::printf("note: %s was analysed %d times\n", v.path.c_str(), v.analysed);
  if (!r.rerun.empty()) {
    std::printf(
        "\nrerun: posebatch slurm %s --tasks rerun   (tasks %s; or: posebatch analyze --manifest "
        "%s/manifest.jsonl --shard I/%d --resume)\n",
        c.status_dir.c_str(), Join(r.rerun, ",").c_str(), c.status_dir.c_str(), r.shards);
  }
  std::fflush(stdout);
  return code;
}

}  // namespace

void AddCampaignCommands(CLI::App& app, CampaignCommands& c) {
  c.plan = app.add_subcommand("plan",
                              "plan a campaign: list the videos, count their frames, split them into shards, "
                              "write <dir>/manifest.jsonl");
  AddAnalyzeOptions(c.plan, c.plan_args, c.plan_options);
  c.plan->get_option("inputs")->description(
      "videos, folders of videos, or text files (.txt, .list) with one video or folder per line");
  c.plan->add_option("--out,-o", c.plan_dir, "the campaign folder (created; must not hold a campaign)")
      ->required()
      ->group("Campaign");
  c.plan->add_option("--shards", c.shards, "tasks to split the videos into (balanced by frames)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str()
      ->group("Campaign");

  c.slurm = app.add_subcommand("slurm", "write a campaign's sbatch script (a job array) and submit it");
  c.slurm->add_option("campaign", c.slurm_dir, "the campaign folder")->required()->check(CLI::ExistingDirectory);
  SlurmOptions& o = c.slurm_options;
  c.slurm->add_option("--array", o.array, "tasks (default: the plan's shards)")->check(CLI::Range(1, 100000));
  c.slurm->add_option("--tasks", c.slurm_tasks,
                      "submit only these task ids (1,3), or 'rerun': the tasks `posebatch status` says to rerun");
  c.slurm->add_option("--partition,-p", o.partition, "sbatch --partition");
  c.slurm->add_option("--time", o.time, "sbatch --time (per task)");
  c.slurm->add_option("--cpus-per-task,-c", o.cpus_per_task, "sbatch --cpus-per-task (also the inference threads)")
      ->check(CLI::Range(1, 1024));
  c.slurm->add_option("--mem", o.mem, "sbatch --mem");
  c.slurm->add_option("--gres", o.gres, "sbatch --gres (e.g. gpu:1)");
  c.slurm->add_option("--account,-A", o.account, "sbatch --account");
  c.slurm->add_option("--qos", o.qos, "sbatch --qos");
  c.slurm->add_option("--max-parallel", o.max_parallel, "at most N tasks at once (--array=...%N)")
      ->check(CLI::Range(1, 100000));
  c.slurm
      ->add_option("--stop-before-limit", o.stop_before_limit_s,
                   "seconds before the time limit at which a task stops at a checkpoint and requeues itself "
                   "(0: never)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  c.slurm->add_option("--sbatch", o.extra_sbatch, "another sbatch option, verbatim (repeatable), e.g. --sbatch=--nice");
  c.slurm->add_flag("--dry-run", c.dry_run, "print the script; submit nothing");

  c.status = app.add_subcommand("status",
                                "a campaign's progress: videos done / running / interrupted / failed, "
                                "tasks and their speed, what to rerun (exit 0 complete, 1 failed, "
                                "3 lost frames, 4 unfinished)");
  c.status->add_option("campaign", c.status_dir, "the campaign folder")->required()->check(CLI::ExistingDirectory);
  c.status->add_flag("--json", c.status_json, "one JSON object instead of the text report");
}

int RunCampaignCommand(CampaignCommands& c, const std::string& argv0) {
  if (*c.plan) return RunPlan(c);
  if (*c.slurm) return RunSlurm(c, argv0);
  if (*c.status) return RunStatus(c);
  return -1;
}

}  // namespace posebatch::cli
