#include "analyze_options.h"

#include "option_binding.h"
#include "posebatch/option_table.h"

namespace posebatch::cli {

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
  AddTableOptions(cmd, AnalyzeOptionTable(), o);

  // The command line's own: how it reports, and its exit code.
  const std::string run = "Performance";
  cmd->add_flag("--quiet,-q", a.quiet, "no progress line or summary")->group(run);
  cmd->add_option("--progress", a.progress,
                  "progress report on stderr: text (a progress line), json (JSON lines: start, progress, done, "
                  "message and summary events, for schedulers and dashboards) or none")
      ->check(CLI::IsMember({"text", "json", "none"}))
      ->capture_default_str()
      ->group(run);
  cmd->add_flag("--allow-lost-frames", a.allow_lost_frames,
                "exit 0 even when frames of a damaged video could not be decoded (else exit 3)")
      ->group("Outputs");
}

std::vector<std::string> GivenOptionArgs(const CLI::App& cmd, const std::set<std::string>& skip) {
  std::vector<std::string> args;
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->count() == 0 || !opt->nonpositional() || opt->get_lnames().empty()) continue;
    const std::string name = opt->get_lnames().front();
    if (skip.count(name)) continue;
    if (opt->get_expected_max() == 0) {
      // A flag: CLI11 keeps "true" per --name and "false" per --no-name; the sum decides.
      int64_t n = 0;
      for (const std::string& r : opt->results()) n += CLI::detail::to_flag_value(r);
      args.push_back(n > 0 ? "--" + name : "--" + name + "=false");  // --no-x: "--x=false" parses back
      continue;
    }
    args.push_back("--" + name);
    for (const std::string& value : opt->results()) args.push_back(value);
  }
  return args;
}

}  // namespace posebatch::cli
