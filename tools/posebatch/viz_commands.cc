#include "viz_commands.h"

#include <iostream>

#include "report.h"

namespace posebatch::cli {
namespace {

// "a-b,c-d": skeleton pairs of bodyparts.
bool ParseSkeleton(const std::string& text, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string pair = text.substr(start, comma - start);
    const size_t dash = pair.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == pair.size()) return false;
    out->emplace_back(pair.substr(0, dash), pair.substr(dash + 1));
    start = comma + 1;
  }
  return !out->empty();
}

const CLI::Validator kSkeleton(
    [](std::string& v) -> std::string {
      std::vector<std::pair<std::string, std::string>> pairs;
      return ParseSkeleton(v, &pairs) ? "" : "expects bodypart pairs a-b,c-d, got '" + v + "'";
    },
    "A-B,...");

// The drawing options of `label` and of `analyze --labeled-video`. `boxes_name`: the flag that
// draws boxes (analyze's --boxes already names a boxes file).
void AddDrawingOptions(CLI::App* cmd, LabeledVideoOptions& o, const std::string& group, const std::string& boxes_name,
                       CLI::Option* needs) {
  std::vector<CLI::Option*> opts;
  opts.push_back(cmd->add_option("--pcutoff", o.pcutoff,
                                 "points with likelihood <= pcutoff are not drawn (default: the project config's, "
                                 "else 0.6)")
                     ->check(CLI::Range(0.0, 1.0)));
  opts.push_back(cmd->add_option("--dotsize", o.dotsize, "dot radius in pixels (default: the project's, else 8)")
                     ->check(CLI::Range(0.5, 1000.0)));
  opts.push_back(cmd->add_option("--colormap", o.colormap, "matplotlib colormap (default: the project's, else rainbow)")
                     ->check(CLI::IsMember(ColormapNames())));
  opts.push_back(cmd->add_option("--color-by", o.color_by,
                                 "colour per bodypart or per individual (default: bodypart for one animal, "
                                 "individual for several)")
                     ->check(CLI::IsMember({"bodypart", "individual"})));
  opts.push_back(cmd->add_flag("--draw-skeleton", o.draw_skeleton,
                               "lines between skeleton pairs (from --skeleton or the project config)"));
  opts.push_back(cmd->add_option_function<std::string>(
                        "--skeleton", [&o](const std::string& v) { ParseSkeleton(v, &o.skeleton); },
                        "skeleton pairs a-b,c-d (default: the project config's); implies --draw-skeleton")
                     ->check(kSkeleton)
                     ->each([&o](const std::string&) { o.draw_skeleton = true; }));
  opts.push_back(
      cmd->add_option("--trail", o.trail, "also draw each point's previous N positions")->check(CLI::Range(0, 1000)));
  opts.push_back(
      cmd->add_flag(boxes_name, o.boxes, "boxes: the detector's (top-down, analyze) or around each animal's points"));
  opts.push_back(cmd->add_option("--project-config", o.project_config,
                                 "DeepLabCut project config.yaml for pcutoff, dotsize, colormap, skeleton "
                                 "(analyze: default the model's project when found)")
                     ->check(CLI::ExistingFile));
  opts.push_back(cmd->add_option("--crf", o.crf, "H.264 quality (libx264 CRF, lower is better)")
                     ->check(CLI::Range(0, 51))
                     ->capture_default_str());
  for (CLI::Option* opt : opts) {
    opt->group(group);
    if (needs != nullptr) opt->needs(needs);
  }
}

}  // namespace

void AddLabeledVideoOptions(CLI::App* analyze, LabeledVideoOptions& o) {
  const std::string group = "Labeled video";
  CLI::Option* flag = analyze
                          ->add_flag("--labeled-video", o.enabled,
                                     "also write <stem><scorer>_labeled.mp4 (H.264) in the same pass: the poses "
                                     "drawn on the decoded frames")
                          ->group(group);
  AddDrawingOptions(analyze, o, group, "--draw-boxes", flag);
}

void AddVizCommands(CLI::App& app, VizCommands& v) {
  v.label = app.add_subcommand("label", "draw the poses of a DeepLabCut .h5 on its video (a labeled mp4)");
  v.label->add_option("h5", v.label_h5, "predictions: a DeepLabCut .h5 (posebatch's or DeepLabCut's)")->required();
  v.label->add_option("video", v.label_video, "the video they were made from")->required();
  v.label->add_option("-o,--output", v.label_output,
                      "the labeled video (default: <h5 without .h5>_labeled.mp4, i.e. <stem><scorer>_labeled.mp4)");
  v.label->add_flag("--quiet,-q", v.quiet, "print only the output path");
  AddDrawingOptions(v.label, v.label_options, "Drawing", "--boxes,--draw-boxes", nullptr);

  v.plot = app.add_subcommand("plot", "plots of a DeepLabCut .h5: trajectories, x/y and likelihood over time, jumps");
  v.plot->add_option("h5", v.plot_h5, "predictions: a DeepLabCut .h5")->required();
  v.plot->add_option("-o,--output", v.plot_dir, "output folder (default: plot-poses/<h5 stem> beside the file)");
  v.plot
      ->add_option("--pcutoff", v.plot_options.pcutoff,
                   "points with likelihood <= pcutoff are left out (default: the project's, else 0.6)")
      ->check(CLI::Range(0.0, 1.0));
  v.plot
      ->add_option("--colormap", v.plot_options.colormap, "matplotlib colormap (default: the project's, else rainbow)")
      ->check(CLI::IsMember(ColormapNames()));
  v.plot->add_option("--project-config", v.plot_options.project_config, "DeepLabCut project config.yaml")
      ->check(CLI::ExistingFile);
  v.plot->add_flag("--no-png", v.no_png, "no PNG files");
  v.plot->add_flag("--no-svg", v.no_svg, "no SVG files");
}

int RunVizCommand(const VizCommands& v) {
  if (v.label != nullptr && *v.label) {
    std::string written;
    std::vector<std::string> notes;
    const Status st = CreateLabeledVideo(v.label_h5, v.label_video, v.label_output, v.label_options, &written, &notes);
    for (const std::string& n : notes) std::cerr << "note: " << n << "\n";
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return kExitFailed;
    }
    std::cout << written << "\n";
    return kExitOk;
  }
  if (v.plot != nullptr && *v.plot) {
    if (v.no_png && v.no_svg) {
      std::cerr << "plot: --no-png and --no-svg leave nothing to write\n";
      return kExitUsage;
    }
    PlotOptions o = v.plot_options;
    o.png = !v.no_png;
    o.svg = !v.no_svg;
    std::vector<std::string> written;
    const Status st = PlotTrajectories(v.plot_h5, v.plot_dir, o, &written);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return kExitFailed;
    }
    for (const std::string& w : written) std::cout << w << "\n";
    return kExitOk;
  }
  return -1;
}

}  // namespace posebatch::cli
