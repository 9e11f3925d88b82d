// Splitting a campaign into shards of nearly equal frames, and finding which shard this
// process is.
#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "posebatch/campaign.h"

namespace posebatch {

std::vector<int> AssignShards(const std::vector<int64_t>& frames, int shards) {
  std::vector<int> shard_of(frames.size(), 0);
  if (shards <= 1) return shard_of;
  // Longest processing time first: within 4/3 of the best split, and near 1 when there are
  // several videos per shard. Stable order: equal lengths keep their manifest order.
  std::vector<size_t> order(frames.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return frames[a] > frames[b]; });
  std::vector<int64_t> load(static_cast<size_t>(shards), 0);
  for (const size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end());  // first of equals: lowest shard
    shard_of[i] = static_cast<int>(lightest - load.begin());
    *lightest += std::max<int64_t>(frames[i], 1);
  }
  return shard_of;
}

double ShardImbalance(const std::vector<int64_t>& frames, const std::vector<int>& shard_of, int shards) {
  std::vector<int64_t> load(static_cast<size_t>(std::max(shards, 1)), 0);
  int64_t total = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    load[static_cast<size_t>(shard_of[i])] += frames[i];
    total += frames[i];
  }
  if (total == 0) return 1.0;
  const double mean = static_cast<double>(total) / static_cast<double>(load.size());
  return static_cast<double>(*std::max_element(load.begin(), load.end())) / mean;
}

std::vector<int> ShardOf(const Manifest& manifest, int count) {
  std::vector<int> shard_of;
  if (count == manifest.shards) {
    for (const auto& v : manifest.videos) shard_of.push_back(v.shard);
  } else {
    std::vector<int64_t> frames;
    for (const auto& v : manifest.videos) frames.push_back(v.frames);
    shard_of = AssignShards(frames, count);
  }
  return shard_of;
}

std::vector<size_t> ShardVideos(const Manifest& manifest, int index, int count) {
  const std::vector<int> shard_of = ShardOf(manifest, count);
  std::vector<size_t> mine;
  for (size_t i = 0; i < shard_of.size(); ++i)
    if (shard_of[i] == index) mine.push_back(i);
  return mine;
}

namespace {

bool ParseIndex(const std::string& text, int* value) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  *value = std::atoi(text.c_str());
  return true;
}

}  // namespace

Status ResolveShard(const std::string& spec, int planned_shards, int* index, int* count) {
  *index = -1;
  *count = planned_shards;
  std::string idx = spec;
  if (!spec.empty()) {
    const auto slash = spec.find('/');
    if (slash != std::string::npos) {
      idx = spec.substr(0, slash);
      if (!ParseIndex(spec.substr(slash + 1), count) || *count < 1) {
        return Status::InvalidArgument("--shard expects I/N or I (N >= 1), got '" + spec + "'");
      }
    }
    if (idx.empty()) idx = "env";  // "/N": the index from the environment
  }
  if (spec.empty() || idx == "env") {
    const char* slurm = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* k8s = std::getenv("JOB_COMPLETION_INDEX");
    const char* from = slurm != nullptr ? "SLURM_ARRAY_TASK_ID" : "JOB_COMPLETION_INDEX";
    const char* value = slurm != nullptr ? slurm : k8s;
    if (value == nullptr) {
      if (!spec.empty())
        return Status::InvalidArgument("--shard '" + spec +
                                       "': neither SLURM_ARRAY_TASK_ID nor "
                                       "JOB_COMPLETION_INDEX is set");
      return Status::OK();  // the whole manifest
    }
    if (!ParseIndex(value, index)) {
      return Status::InvalidArgument(std::string(from) + "='" + value + "' is not a task index");
    }
  } else if (!ParseIndex(idx, index)) {
    return Status::InvalidArgument("--shard expects I/N or I (N >= 1), got '" + spec + "'");
  }
  if (*index >= *count) {
    return Status::InvalidArgument("task index " + std::to_string(*index) + " is not below the shard count " +
                                   std::to_string(*count) + (spec.empty() ? " (from the environment)" : ""));
  }
  return Status::OK();
}

}  // namespace posebatch
