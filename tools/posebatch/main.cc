// posebatch: the command-line tool. Thin: options in, posebatch::Analyzer (analyze.h) and the
// campaign functions (campaign.h) do the work, report.h prints. Public headers only.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "analyze_command.h"
#include "campaign_commands.h"
#include "option_binding.h"
#include "posebatch/analyze.h"
#include "posebatch/model.h"
#include "posebatch/option_table.h"
#include "posebatch/pipeline.h"
#include "posebatch/version.h"
#include "report.h"
#include "track_commands.h"
#include "viz_commands.h"

using namespace posebatch;
using namespace posebatch::cli;

namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_stop_at_checkpoint{false};

void OnSigint(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

std::atomic<bool> g_terminating{false};
double g_term_grace = 20.0;  // seconds; set before the handlers are installed, read-only after

// SIGTERM (scancel, kill, a container stopping): finish the running journal chunk if that takes
// less than the grace period (TermWatchdog), then stop; completed chunks stay for --resume.
// Unlike Ctrl-C a second one does not kill: schedulers send it to the job and to its batch
// shell, and their SIGKILL follows anyway.
void OnSigterm(int) {
  g_stop_at_checkpoint.store(true);
  g_terminating.store(true);
  // No grace: stop now, not when the watchdog next wakes (a chunk could complete meanwhile).
  if (g_term_grace <= 0) g_interrupted.store(true);
}

// SIGUSR1 (a scheduler's time-limit warning, minutes ahead): finish the running chunk, then stop.
void OnSigusr1(int) { g_stop_at_checkpoint.store(true); }

// After SIGTERM, stops at once when the chunk has not come within $POSEBATCH_TERM_GRACE
// seconds (default 20: inside Slurm's default KillWait of 30 s before its SIGKILL).
void StartTermWatchdog() {
  const char* env = std::getenv("POSEBATCH_TERM_GRACE");
  const double grace = g_term_grace = env != nullptr ? std::atof(env) : 20.0;
  std::thread([grace] {
    while (!g_terminating.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < grace) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    g_interrupted.store(true);
  }).detach();
}

int RunInfo(const std::string& model_path, const ModelLoadOptions& load) {
  try {
    Model model = LoadModel(model_path, load);
    const ModelSpec& s = model.spec;
    std::printf("model:        %s\n", model.network->Describe().c_str());
    std::printf("config:       %s\n", s.config_path.c_str());
    std::printf("weights:      %s\n", model.weights_path.c_str());
    if (s.method == Method::kTopDown) {
      std::string detector = model.detector_path;
      if (detector.empty()) detector = model.detector != nullptr ? "in " + model.weights_path : "none";
      if (!model.detector_search.empty()) detector += " (" + model.detector_search + ")";
      std::printf("detector:     %s\n", detector.c_str());
    }
    std::printf("method:       %s\n", MethodName(s.method));
    std::printf("net_type:     %s\n", s.net_type.c_str());
    std::printf("bodyparts:   ");
    for (const auto& b : s.bodyparts) std::printf(" %s", b.c_str());
    std::printf("\nindividuals: ");
    for (const auto& i : s.individuals) std::printf(" %s", i.c_str());
    std::printf("\ninput:        %s, normalize %s, pad to multiple of %d\n", s.input.bgr ? "BGR" : "RGB",
                s.input.normalize ? "yes" : "no", s.input.pad_multiple);
    if (s.predictor == PredictorType::kHeatmap) {
      std::printf("predictor:    HeatmapPredictor stride %g, locref %s (std %g), sigmoid %s, clip %s\n",
                  s.pose_head.stride, s.pose_head.location_refinement ? "yes" : "no", s.pose_head.locref_std,
                  s.pose_head.apply_sigmoid ? "yes" : "no", s.pose_head.clip_scores ? "yes" : "no");
    } else {
      std::printf("predictor:    %s\n", PredictorName(s.predictor));
    }
    std::printf("runs as:      %s, %s\n", model.network->precision().c_str(),
                model.network->input_layout() == InputLayout::kNHWC ? "NHWC" : "NCHW");
    std::printf("scorer:       %s\n", DefaultScorer(model).c_str());
    return kExitOk;
  } catch (const Error& e) {
    std::cerr << "error: " << e.status().message() << "\n";
    return kExitFailed;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"posebatch: fast DeepLabCut pose inference over videos and images"};
  app.set_version_flag("--version", std::string("posebatch ") + kVersion);
  app.require_subcommand(1);

  AnalyzeArgs a;
  AnalyzeOptions o;
  std::string manifest, shard;
  auto* analyze = app.add_subcommand("analyze", "analyze videos / images with a pose model");
  AddAnalyzeOptions(analyze, a, o, /*inputs_optional=*/true);
  auto* manifest_opt = analyze
                           ->add_option("--manifest", manifest,
                                        "a campaign's manifest.jsonl (posebatch plan): analyse its videos with "
                                        "its options (those given here win), instead of MODEL INPUTS")
                           ->check(CLI::ExistingFile)
                           ->group("Campaign");
  analyze
      ->add_option("--shard", shard,
                   "with --manifest: this task's share, I/N or I (N: the plan's); default $SLURM_ARRAY_TASK_ID, "
                   "else $JOB_COMPLETION_INDEX, else every video")
      ->needs(manifest_opt)
      ->group("Campaign");

  CampaignCommands campaign;
  AddCampaignCommands(app, campaign);
  VizCommands viz;  // label, plot
  AddVizCommands(app, viz);
  TrackCommands track;  // tracklets
  AddTrackCommands(app, track);

  std::string info_model;
  ModelLoadOptions info_load;
  auto* info = app.add_subcommand("info", "describe a model");
  info->add_option("model", info_model, "the model: export, snapshot, training folder or TorchScript")->required();
  AddTableOptions(info, ModelOptionTable(), info_load);  // loaded as analyze would load it

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (CLI11's own codes are 105-109).
    const int printed = app.exit(e);
    return printed == 0 ? kExitOk : kExitUsage;
  }
  if (*analyze && manifest.empty() && (a.model.empty() || a.inputs.empty())) {
    std::cerr << "analyze: the model and inputs are required (or --manifest)\nRun with --help for more information.\n";
    return kExitUsage;
  }
  if (*analyze && !manifest.empty() && !a.model.empty()) {
    std::cerr << "analyze: --manifest names the model and the inputs: give neither with it\n";
    return kExitUsage;
  }
  TuneAllocatorForInference();
  StartTermWatchdog();  // before the handlers: OnSigterm reads the grace it sets
  std::signal(SIGINT, OnSigint);
  std::signal(SIGTERM, OnSigterm);
  std::signal(SIGUSR1, OnSigusr1);
  const StopFlags stop{&g_interrupted, &g_stop_at_checkpoint};
  if (*analyze) return manifest.empty() ? RunAnalyze(a, o, stop) : RunManifestTask(*analyze, manifest, shard, stop);
  const int track_exit = RunTrackCommand(track);
  if (track_exit >= 0) return track_exit;
  const int viz_exit = RunVizCommand(viz);
  if (viz_exit >= 0) return viz_exit;
  const int campaign_exit = RunCampaignCommand(campaign, argv[0]);
  if (campaign_exit >= 0) return campaign_exit;
  if (*info) return RunInfo(info_model, info_load);
  return kExitUsage;
}
