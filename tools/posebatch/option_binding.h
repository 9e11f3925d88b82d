// An option table (posebatch/option_table.h) on a CLI11 command: each row becomes one option
// with its names, help, value form, default, environment variable, needs and excludes; a given
// value is parsed by the row's own `set` (a bad one is a usage error naming the option).
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "posebatch/option_table.h"

namespace posebatch::cli {

template <typename Options>
void AddTableOptions(CLI::App* cmd, const OptionTable<Options>& table, Options& target) {
  std::map<std::string, CLI::Option*> added;
  const Options defaults{};
  for (const OptionSpec<Options>& spec : table) {
    const OptionSpec<Options>* row = &spec;  // the tables live as long as the program
    auto apply = [row, &target, cmd](const std::string& v) {
      // CLI11 (2.1) reads environment variables and runs callbacks on every subcommand, given
      // or not: only the command being run takes its values.
      if (!*cmd) return;
      Status st = row->set(v, &target);
      if (!st.ok()) throw CLI::ValidationError(row->long_name(), st.message());
    };
    CLI::Option* opt = nullptr;
    if (spec.kind == OptionKind::kValue) {
      opt = cmd->add_option_function<std::string>(spec.names, apply, spec.help)->type_name(spec.value_name);
      const std::string def = spec.get(defaults);
      if (!def.empty()) opt->default_str(def);
    } else {
      // A flag counts +1 per --name and -1 per --no-name (or --name=false).
      opt = cmd->add_flag_function(
          spec.names, [apply](int64_t n) { apply(n > 0 ? "true" : "false"); }, spec.help);
    }
    opt->group(spec.group);
    if (!spec.env.empty()) opt->envname(spec.env);
    added[spec.key()] = opt;
  }
  for (const OptionSpec<Options>& spec : table) {
    if (!spec.needs.empty() && added.count(spec.needs)) added[spec.key()]->needs(added[spec.needs]);
    if (!spec.excludes.empty() && added.count(spec.excludes)) added[spec.key()]->excludes(added[spec.excludes]);
  }
}

}  // namespace posebatch::cli
