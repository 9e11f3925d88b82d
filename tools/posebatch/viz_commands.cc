#include "viz_commands.h"

#include <iostream>

#include "option_binding.h"
#include "posebatch/option_table.h"
#include "report.h"

namespace posebatch::cli {

void AddVizCommands(CLI::App& app, VizCommands& v) {
  v.label = app.add_subcommand("label", "draw the poses of a DeepLabCut .h5 on its video (a labeled mp4)");
  v.label->add_option("h5", v.label_h5, "predictions: a DeepLabCut .h5 (posebatch's or DeepLabCut's)")->required();
  v.label->add_option("video", v.label_video, "the video they were made from")->required();
  v.label->add_option("-o,--output", v.label_output,
                      "the labeled video (default: <h5 without .h5>_labeled.mp4, i.e. <stem><scorer>_labeled.mp4)");
  v.label->add_flag("--quiet,-q", v.quiet, "print only the output path");
  AddTableOptions(v.label, DrawingOptionTable(), v.label_options);
  v.label->add_flag("--boxes", v.label_options.boxes, "the same as --draw-boxes")->group("Drawing");

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
