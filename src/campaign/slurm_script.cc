// The sbatch script of a campaign.
#include <filesystem>
#include <sstream>

#include "posebatch/campaign.h"

namespace fs = std::filesystem;

namespace posebatch {
std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

namespace {

// What sbatch's --array takes: "0-3", or "1,3" for a rerun, with "%N" for a parallel limit.
std::string ArraySpec(const SlurmOptions& o, int count) {
  std::string spec;
  if (o.tasks.empty()) {
    spec = count == 1 ? "0" : "0-" + std::to_string(count - 1);
  } else {
    for (size_t i = 0; i < o.tasks.size(); ++i) spec += (i ? "," : "") + std::to_string(o.tasks[i]);
  }
  if (o.max_parallel > 0) spec += "%" + std::to_string(o.max_parallel);
  return spec;
}

}  // namespace

std::string SlurmScript(const std::string& dir_in, const Manifest& m, const SlurmOptions& o) {
  const std::string dir = fs::absolute(dir_in).lexically_normal().string();
  const int count = o.array > 0 ? o.array : m.shards;
  int64_t frames = 0;
  for (const auto& v : m.videos) frames += v.frames;
  std::string name = fs::path(dir).filename().string();
  if (name.empty()) name = fs::path(dir).parent_path().filename().string();
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# posebatch campaign " << dir << ": " << m.videos.size() << " videos, " << frames << " frames, " << count
    << " tasks.\n"
    << "# Written by `posebatch slurm`; submit with `sbatch` (or let `posebatch slurm` do it).\n"
    << "#SBATCH --job-name=posebatch-" << name << "\n"
    << "#SBATCH --array=" << ArraySpec(o, count) << "\n"
    << "#SBATCH --output=" << dir << "/logs/task-%a.log\n"
    << "#SBATCH --open-mode=append\n"
    << "#SBATCH --requeue\n";
  if (o.stop_before_limit_s > 0) s << "#SBATCH --signal=B:USR1@" << o.stop_before_limit_s << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.account.empty()) s << "#SBATCH --account=" << o.account << "\n";
  if (!o.qos.empty()) s << "#SBATCH --qos=" << o.qos << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  if (o.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n";
  if (!o.mem.empty()) s << "#SBATCH --mem=" << o.mem << "\n";
  if (!o.gres.empty()) s << "#SBATCH --gres=" << o.gres << "\n";
  for (const auto& extra : o.extra_sbatch) s << "#SBATCH " << extra << "\n";
  s << "set -u\n"
    << "cd " << ShellQuote(m.workdir) << " || exit 1\n"
    << "task=\"${SLURM_ARRAY_TASK_ID:?not run as a Slurm array task}\"\n"
    << "echo \"posebatch: task $task/" << count
    << " on $(hostname), job ${SLURM_ARRAY_JOB_ID:-?}_$task, restart ${SLURM_RESTART_COUNT:-0}, $(date)\" >&2\n"
    << "# Inference threads = the CPUs Slurm gave the task (all of the node's would oversubscribe it).\n"
    << ShellQuote(o.posebatch) << " analyze --manifest " << ShellQuote(dir + "/manifest.jsonl") << " --shard \"$task/"
    << count << "\" --resume --progress json --threads \"${SLURM_CPUS_PER_TASK:-auto}\" &\n"
    << "pid=$!\n"
    << "# The time-limit warning (USR1): the task stops at its next journal chunk (exit 75) and is\n"
    << "# requeued; it resumes there. scancel's SIGTERM (to posebatch and to this shell, forwarded):\n"
    << "# posebatch finishes its chunk if it can within 20 s, else stops; completed chunks stay.\n"
    << "requeue=0\n"
    << "trap 'requeue=1; kill -USR1 \"$pid\" 2>/dev/null' USR1\n"
    << "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM\n"
    << "while :; do\n"
    << "  wait \"$pid\"; rc=$?\n"
    << "  kill -0 \"$pid\" 2>/dev/null || break  # wait returned for a signal: posebatch still runs\n"
    << "done\n"
    << "if [ \"$requeue\" = 1 ] && [ \"$rc\" = 75 ]; then\n"
    << "  echo \"posebatch: time limit near, stopped at a checkpoint; requeueing\" >&2\n"
    << "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_$task\"\n"
    << "fi\n"
    << "exit \"$rc\"\n";
  return s.str();
}

}  // namespace posebatch
