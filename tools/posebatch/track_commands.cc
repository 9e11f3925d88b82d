#include "track_commands.h"

#include <iostream>

#include "option_binding.h"
#include "posebatch/option_table.h"
#include "report.h"

namespace posebatch::cli {

void AddTrackCommands(CLI::App& app, TrackCommands& t) {
  t.tracklets =
      app.add_subcommand("tracklets",
                         "multi-animal predictions into tracklets, as DeepLabCut's convert_detections2tracklets: "
                         "<stem><scorer>_el.pickle (_bx, _sk), the file its stitch_tracklets reads");
  t.tracklets
      ->add_option("predictions", t.predictions,
                   "a video's <stem><scorer>_full.pickle (or _assemblies.pickle): its _assemblies and _meta "
                   "pickles beside it, from DeepLabCut or posebatch")
      ->required();
  AddTableOptions(t.tracklets, TrackletOptionTable(), t.options);
  t.tracklets->add_flag("--quiet,-q", t.quiet, "print only the output paths");
}

int RunTrackCommand(const TrackCommands& t) {
  if (t.tracklets == nullptr || !*t.tracklets) return -1;
  int failed = 0;
  for (const std::string& p : t.predictions) {
    std::string written;
    std::vector<std::string> notes;
    const Status st = ConvertToTracklets(p, t.options, &written, &notes);
    if (!t.quiet)
      for (const std::string& n : notes) std::cerr << "note: " << n << "\n";
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      ++failed;  // the others are still converted
      continue;
    }
    std::cout << written << "\n";
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace posebatch::cli
