#include "analyze_options.h"

#include <iostream>

#include "viz_commands.h"

namespace posebatch::cli {
namespace {

// "N" or "auto" with N in [1, max].
CLI::Validator NumberOrAuto(int max) {
  return CLI::Validator(
      [max](std::string& v) -> std::string {
        if (v == "auto") return "";
        std::string range = CLI::Range(1, max)(v);
        return range.empty() ? "" : "expects a number from 1 to " + std::to_string(max) + " or 'auto', got '" + v + "'";
      },
      "N|auto");
}

// START:STOP, either side may be empty; STOP > START.
const CLI::Validator kFrameRange(
    [](std::string& v) -> std::string {
      const auto colon = v.find(':');
      if (colon == std::string::npos) return "expects START:STOP (e.g. 0:1000), got '" + v + "'";
      for (const std::string& part : {v.substr(0, colon), v.substr(colon + 1)}) {
        if (!part.empty() && CLI::NonNegativeNumber(std::string(part)) != "") {
          return "expects START:STOP with whole numbers >= 0, got '" + v + "'";
        }
      }
      const std::string a = v.substr(0, colon), b = v.substr(colon + 1);
      if (!a.empty() && !b.empty() && std::stoll(b) <= std::stoll(a)) return "STOP must be > START, got '" + v + "'";
      return "";
    },
    "START:STOP");

// cpu, cuda or cuda:N.
const CLI::Validator kDevice(
    [](std::string& v) -> std::string {
      if (v == "cpu" || v == "cuda") return "";
      if (v.rfind("cuda:", 0) == 0 && CLI::NonNegativeNumber(v.substr(5)).empty()) return "";
      return "expects cpu, cuda or cuda:N, got '" + v + "'";
    },
    "cpu|cuda[:N]");

}  // namespace

void AddAnalyzeOptions(CLI::App* cmd, AnalyzeArgs& a, AnalyzeOptions& o, bool inputs_optional) {
  auto* model_arg =
      cmd->add_option("model", a.model,
                      "the model: a DeepLabCut export (.pt), a snapshot-*.pt (pytorch_config.yaml beside it), a "
                      "training folder (best snapshot, else last), or TorchScript with its config");
  auto* inputs_arg = cmd->add_option("inputs", a.inputs, "videos, images, or folders of them");
  if (!inputs_optional) {
    model_arg->required();
    inputs_arg->required();
  }

  const std::string model = "Model";
  cmd->add_option("--config", o.model.config_path, "pytorch_config.yaml (default: beside the model / inside an export)")
      ->check(CLI::ExistingFile)
      ->group(model);
  cmd->add_option("--snapshot", o.model.snapshot, "training folder: the snapshot to use (default: best, else last)")
      ->check(CLI::ExistingFile)
      ->group(model);
  cmd->add_option("--device", o.model.device, "where inference runs")
      ->check(kDevice)
      ->capture_default_str()
      ->group(model);
  cmd->add_flag("--half", o.model.half, "float16 inference (GPU, native models)")->group(model);
  cmd->add_flag_function(
         "--channels-last,!--no-channels-last", [&o](int64_t n) { o.model.channels_last = n > 0; },
         "NHWC native networks, 1.2-1.3x faster on CPU (default for bottom-up and CTD models: scores within "
         "1e-4 of DeepLabCut's); --no-channels-last: DeepLabCut's NCHW order (default for top-down; scores "
         "within 1e-5)")
      ->group(model);

  cmd->add_option("--precision", o.model.precision,
                  "bf16: bfloat16 inference on CPUs with AVX512-BF16/AMX; int8: int8 convolutions on CPUs with "
                  "VNNI/AMX (faster; on the real open-field frames keypoints moved by p99 0.12 px in bf16, 1.7 px "
                  "in int8; see README)")
      ->check(CLI::IsMember({"float32", "bf16", "int8"}))
      ->capture_default_str()
      ->group(model);

  const std::string out = "Outputs";
  cmd->add_option("--dest,-d", o.dest_dir, "output folder (default: next to each input)")->group(out);
  cmd->add_flag("--csv", o.save_csv, "also write .csv")->group(out);
  AddLabeledVideoOptions(cmd, o.labeled_video);  // --labeled-video and its drawing options (viz_commands.h)
  cmd->add_option("--scorer", o.scorer, "scorer level of the outputs (default: DeepLabCut's, from the model)")
      ->group(out);
  cmd->add_flag("--overwrite", o.overwrite, "redo inputs that already have results (default: skip them)")->group(out);
  cmd->add_flag("--resume", o.resume, "continue an interrupted run from its last completed chunk (.resume journal)")
      ->group(out);
  cmd->add_flag("--allow-lost-frames", a.allow_lost_frames,
                "exit 0 even when frames of a damaged video could not be decoded (else exit 3)")
      ->group(out);

  const std::string what = "What to analyse";
  cmd->add_option("--frames", a.frames, "frame range START:STOP (STOP exclusive; either may be empty)")
      ->check(kFrameRange)
      ->group(what);
  cmd->add_option("--crop", a.crop, "analyse only x1,x2,y1,y2 (DeepLabCut's cropping)")
      ->delimiter(',')
      ->expected(4)
      ->check(CLI::NonNegativeNumber)
      ->group(what);

  const std::string run = "Performance";
  cmd->add_option("--batch-size,-b", a.batch_size,
                  "frames (top-down: crops) per inference batch, or auto (time 1-8, keep the fastest)")
      ->check(NumberOrAuto(4096))
      ->capture_default_str()
      ->group(run);
  cmd->add_option("--threads,-t", a.threads, "inference threads, or auto (= all cores)")
      ->check(NumberOrAuto(1024))
      ->capture_default_str()
      ->group(run);
  cmd->add_option("--workers", o.pipeline.preprocess_workers, "preprocess worker threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str()
      ->group(run);
  cmd->add_option("--post-workers", o.pipeline.postprocess_workers,
                  "postprocess threads (predictor, multi-animal assembly), in parallel over batches")
      ->check(CLI::Range(1, 64))
      ->capture_default_str()
      ->group(run);
  cmd->add_option("--detector-batch-size", o.pipeline.detector_batch_size,
                  "frames per detector batch (top-down), or per conditions-model batch (CTD)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str()
      ->group(run);
  cmd->add_option("--slots", o.pipeline.num_slots, "preallocated batch slots (the memory bound)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str()
      ->group(run);
  cmd->add_flag("--no-async", a.no_async, "every stage in one thread, in turn (for comparison; same results)")
      ->group(run);
  cmd->add_flag("--quiet,-q", a.quiet, "no progress line or summary")->group(run);
  cmd->add_option("--progress", a.progress,
                  "progress report on stderr: text (a progress line), json (JSON lines: start, progress, done, "
                  "message and summary events, for schedulers and dashboards) or none")
      ->check(CLI::IsMember({"text", "json", "none"}))
      ->capture_default_str()
      ->group(run);

  const std::string td = "Top-down and conditional top-down (CTD)";
  cmd->add_option("--boxes", o.boxes_path,
                  "top-down: JSON of boxes per frame number or image path ([x, y, w, h(, score)] lists), "
                  "instead of the model's detector")
      ->group(td);
  auto* conditions =
      cmd->add_option("--conditions", o.conditions_path,
                      "CTD: condition poses per frame from DeepLabCut predictions (.h5, _assemblies.pickle, "
                      "_full.pickle, or .json: a list per frame or a mapping from image path)")
          ->group(td);
  auto* conditions_model = cmd->add_option("--conditions-model", o.conditions_model_path,
                                           "CTD: a bottom-up model (export, snapshot or folder) whose poses are "
                                           "the conditions, run in the same pipeline")
                               ->group(td);
  conditions->excludes(conditions_model);
  cmd->add_flag("--ctd-tracking", o.ctd_tracking,
                "CTD: track: each frame's poses are the next frame's conditions (DeepLabCut's ctd_tracking); "
                "the conditions source starts the tracks and is rerun by DeepLabCut's rules. Also writes "
                "<stem><scorer>_ctd.h5")
      ->group(td);
  cmd->add_option("--ctd-tracking-config", a.tracking_config,
                  "CTD tracking settings key=value,... with DeepLabCut's CTDTrackingConfig keys (bu_on_lost_idv, "
                  "bu_min_frequency, bu_max_frequency, threshold_bu_add, threshold_ctd, threshold_nms) and "
                  "stable_rows; implies --ctd-tracking")
      ->group(td);
}

bool FinishOptions(const AnalyzeArgs& a, AnalyzeOptions* o) {
  o->auto_batch_size = a.batch_size == "auto";
  if (!o->auto_batch_size) o->pipeline.batch_size = std::stoi(a.batch_size);
  o->pipeline.intra_op_threads = a.threads == "auto" ? 0 : std::stoi(a.threads);
  o->pipeline.async = !a.no_async;
  if (!a.frames.empty()) {
    const auto colon = a.frames.find(':');
    const std::string start = a.frames.substr(0, colon), stop = a.frames.substr(colon + 1);
    o->decode.start_frame = start.empty() ? 0 : std::stoll(start);
    o->decode.stop_frame = stop.empty() ? -1 : std::stoll(stop);
  }
  if (!a.crop.empty()) {
    o->preprocess.crop = Crop{a.crop[0], a.crop[1], a.crop[2], a.crop[3]};
    if (!o->preprocess.crop.enabled()) {
      std::cerr << "error: --crop expects x1,x2,y1,y2 with x1 < x2 and y1 < y2\n";
      return false;
    }
  }
  if (!a.tracking_config.empty()) {
    o->ctd_tracking = true;
    Status st = ParseCtdTrackingSettings(a.tracking_config, &o->tracking);
    if (!st.ok()) {
      std::cerr << "error: --ctd-tracking-config: " << st.message() << "\n";
      return false;
    }
  }
  return true;
}

std::vector<std::string> GivenOptionArgs(const CLI::App& cmd, const std::set<std::string>& skip) {
  std::vector<std::string> args;
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->count() == 0 || !opt->nonpositional() || opt->get_lnames().empty()) continue;
    const std::string name = opt->get_lnames().front();
    if (skip.count(name)) continue;
    args.push_back("--" + name);
    if (opt->get_expected_max() == 0) continue;  // a flag: its name alone
    for (const std::string& value : opt->results()) args.push_back(value);
  }
  return args;
}

}  // namespace posebatch::cli
