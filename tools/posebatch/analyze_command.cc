#include "analyze_command.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "posebatch/campaign.h"
#include "posebatch/progress_json.h"
#include "report.h"

namespace fs = std::filesystem;

namespace posebatch::cli {
namespace {

// One run, reported in the chosen form; `task` (a campaign task) also gets every event.
int Run(const AnalyzeArgs& a, AnalyzeOptions o, const StopFlags& stop, CampaignTaskLog* task, int task_index,
        int task_count) {
  o.cancel = stop.cancel;
  o.stop_at_checkpoint = stop.stop_at_checkpoint;
  const bool json = a.progress == "json";
  ProgressPrinter progress(a.quiet || a.progress != "text");
  JsonProgressWriter json_out(stderr);
  if (task_index >= 0) json_out.SetTask(task_index, task_count);
  AnalyzeCallbacks human;
  human.on_message = [&](MessageLevel level, const std::string& text) {
    progress.Finish();
    PrintMessage(level, text, a.quiet);
  };
  human.on_progress = [&](const std::string& input, const Progress& p) { progress.Update(input, p); };
  human.on_input_done = [&](const InputResult& r) {
    progress.Finish();
    PrintInputResult(r, a.quiet);
  };
  AnalyzeCallbacks then;
  if (task != nullptr) {
    then.on_input_start = [task](const std::string& input, int64_t total) { task->OnInputStart(input, total); };
    then.on_progress = [task](const std::string& input, const Progress& p) { task->OnProgress(input, p); };
    then.on_input_done = [task](const InputResult& r) { task->OnInputDone(r); };
  }
  if (json) {
    o.callbacks = json_out.Callbacks(then);
  } else {
    o.callbacks = human;
    const AnalyzeCallbacks h = human;
    o.callbacks.on_input_start = then.on_input_start;
    o.callbacks.on_progress = [h, then](const std::string& input, const Progress& p) {
      h.on_progress(input, p);
      if (then.on_progress) then.on_progress(input, p);
    };
    o.callbacks.on_input_done = [h, then](const InputResult& r) {
      h.on_input_done(r);
      if (then.on_input_done) then.on_input_done(r);
    };
  }
  auto fail = [&](const Status& st, int code) {
    if (json) {
      json_out.Message(MessageLevel::kWarning, "error: " + st.message());
    } else {
      std::cerr << "error: " << st.message() << "\n";
    }
    if (task != nullptr) task->Finish("failed");
    return code;
  };
  std::unique_ptr<Analyzer> analyzer;
  Status st = Analyzer::Open(a.model, o, &analyzer);
  if (!st.ok()) return fail(st, st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  AnalyzeResult result;
  st = analyzer->Analyze(a.inputs, &result);
  const bool graceful = result.interrupted && stop.stop_at_checkpoint != nullptr && stop.stop_at_checkpoint->load() &&
                        !(stop.cancel != nullptr && stop.cancel->load());
  const int code = FinishRun(st, result, a.allow_lost_frames, graceful, !json);
  if (json) json_out.Summary(result, code);
  if (task != nullptr)
    task->Finish(result.interrupted ? "stopped" : result.failed() > 0 || !st.ok() ? "failed" : "done");
  return code;
}

}  // namespace

int RunAnalyze(const AnalyzeArgs& a, AnalyzeOptions o, const StopFlags& stop) {
  return Run(a, std::move(o), stop, nullptr, -1, 0);
}

int RunManifestTask(const CLI::App& cmd, const std::string& manifest_arg, const std::string& shard,
                    const StopFlags& stop) {
  const std::string manifest_path = fs::absolute(manifest_arg).string();
  Manifest m;
  Status st = ReadManifest(manifest_path, &m);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return st.code() == StatusCode::kNotFound ? kExitUsage : kExitFailed;
  }
  int index = -1, count = 1;
  st = ResolveShard(shard, m.shards, &index, &count);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return kExitUsage;
  }
  // The recorded options' relative paths are relative to where the plan was made.
  if (chdir(m.workdir.c_str()) != 0) {
    std::cerr << "error: " << manifest_path << ": cannot enter the campaign's working folder " << m.workdir << "\n";
    return kExitFailed;
  }
  std::vector<size_t> mine;
  if (index >= 0) {
    mine = ShardVideos(m, index, count);
  } else {
    for (size_t i = 0; i < m.videos.size(); ++i) mine.push_back(i);
  }
  // The task's command line: model, its videos, the plan's options, then this command line's
  // own (later ones win).
  std::vector<std::string> args = {m.model};
  for (size_t i : mine) args.push_back(m.videos[i].path);
  for (const auto& arg : m.analyze_args) args.push_back(arg);
  for (const auto& arg : GivenOptionArgs(cmd, {"manifest", "shard"})) args.push_back(arg);
  CLI::App task_cmd{"analyze (campaign task)"};
  task_cmd.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  AnalyzeArgs a;
  AnalyzeOptions o;
  AddAnalyzeOptions(&task_cmd, a, o, /*inputs_optional=*/true);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses a reversed vector
  try {
    task_cmd.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << manifest_path << ": the recorded analyze options do not parse: " << e.what() << "\n";
    return kExitUsage;
  }
  const std::string dir = fs::path(manifest_path).parent_path().string();
  std::unique_ptr<CampaignTaskLog> task;
  if (index >= 0) {
    st = CampaignTaskLog::Open(dir, index, count, static_cast<int>(mine.size()), &task);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return kExitFailed;
    }
  }
  if (!a.quiet && a.progress == "text") {
    std::cerr << "campaign " << dir << ": task "
              << (index >= 0 ? std::to_string(index) + "/" + std::to_string(count) : std::string("(all shards)"))
              << ", " << mine.size() << " videos\n";
  }
  if (mine.empty()) {
    if (task != nullptr) task->Finish("done");
    return kExitOk;
  }
  return Run(a, std::move(o), stop, task.get(), index, count);
}

}  // namespace posebatch::cli
