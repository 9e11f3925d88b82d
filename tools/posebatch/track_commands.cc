#include "track_commands.h"

#include <iostream>

#include "option_binding.h"
#include "posebatch/option_table.h"
#include "report.h"

namespace posebatch::cli {

namespace {

// One file-to-file command: its inputs, its option table, --quiet.
template <typename Options>
CLI::App* AddFileCommand(CLI::App& app, TrackCommands& t, const std::string& name, const std::string& help,
                         const std::string& input, const std::string& input_help, const OptionTable<Options>& table,
                         Options& options) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option(input, t.predictions, input_help)->required();
  AddTableOptions(cmd, table, options);
  cmd->add_flag("--quiet,-q", t.quiet, "print only the output paths");
  return cmd;
}

constexpr const char* kPredictionsHelp =
    "a video's <stem><scorer>_full.pickle (or _assemblies.pickle): its _assemblies and _meta pickles beside it, "
    "from DeepLabCut or posebatch";

}  // namespace

void AddTrackCommands(CLI::App& app, TrackCommands& t) {
  t.tracklets = AddFileCommand(app, t, "tracklets",
                               "multi-animal predictions into tracklets, as DeepLabCut's "
                               "convert_detections2tracklets: <stem><scorer>_el.pickle (_bx, _sk), the file its "
                               "stitch_tracklets reads",
                               "predictions", kPredictionsHelp, TrackletOptionTable(), t.options);
  t.stitch = AddFileCommand(
      app, t, "stitch",
      "tracklets into tracks, as DeepLabCut's stitch_tracklets: <stem><scorer>_el.h5 (key "
      "'tracks', + .csv), the file its later steps read",
      "tracklets", "a video's tracklet pickle <stem><scorer>_el.pickle (_bx, _sk), from DeepLabCut or posebatch",
      StitchOptionTable(), t.stitch_options);
  t.track = AddFileCommand(app, t, "track",
                           "multi-animal predictions into tracks: tracklets, then stitching, as DeepLabCut's "
                           "analyze_videos(auto_track=True) does after inference",
                           "predictions", kPredictionsHelp, TrackOptionTable(), t.track_options);
}

namespace {

// Runs `step` on every input: the others still run after a failure.
template <typename Step>
int ForEachInput(const TrackCommands& t, Step step) {
  int failed = 0;
  for (const std::string& p : t.predictions) {
    std::string written;
    std::vector<std::string> notes;
    const Status st = step(p, &written, &notes);
    if (!t.quiet)
      for (const std::string& n : notes) std::cerr << "note: " << n << "\n";
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      ++failed;
      continue;
    }
    std::cout << written << "\n";
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

int RunTrackCommand(const TrackCommands& t) {
  if (t.tracklets != nullptr && *t.tracklets) {
    return ForEachInput(t, [&](const std::string& p, std::string* w, std::vector<std::string>* n) {
      return ConvertToTracklets(p, t.options, w, n);
    });
  }
  if (t.stitch != nullptr && *t.stitch) {
    return ForEachInput(t, [&](const std::string& p, std::string* w, std::vector<std::string>* n) {
      return StitchTrackletFile(p, t.stitch_options, w, n);
    });
  }
  if (t.track != nullptr && *t.track) {
    return ForEachInput(t, [&](const std::string& p, std::string* w, std::vector<std::string>* n) {
      return TrackPredictions(p, t.track_options, w, n);
    });
  }
  return -1;
}

}  // namespace posebatch::cli
