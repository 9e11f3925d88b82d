// `posebatch plan`, `posebatch slurm`, `posebatch status`: campaigns (posebatch/campaign.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "analyze_options.h"
#include "posebatch/campaign.h"

namespace posebatch::cli {

struct CampaignCommands {
  CLI::App* plan = nullptr;
  CLI::App* slurm = nullptr;
  CLI::App* status = nullptr;
  // plan
  AnalyzeArgs plan_args;
  AnalyzeOptions plan_options;
  std::string plan_dir;
  int shards = 1;
  // slurm
  std::string slurm_dir;
  SlurmOptions slurm_options;
  std::string slurm_tasks;  // "1,3" or "rerun"
  bool dry_run = false;
  // status
  std::string status_dir;
  bool status_json = false;
};

// Declares plan, slurm and status on `app`.
void AddCampaignCommands(CLI::App& app, CampaignCommands& c);

// Runs whichever of them was given; returns its exit status. `argv0`: this binary, for the
// sbatch script.
int RunCampaignCommand(CampaignCommands& c, const std::string& argv0);

}  // namespace posebatch::cli
