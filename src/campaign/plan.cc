// PlanCampaign: inputs -> the videos, their frame counts and output names -> shards ->
// manifest.jsonl.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "io/output_lock.h"
#include "posebatch/campaign.h"
#include "posebatch/frame_source.h"
#include "posebatch/video_outputs.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

bool IsListFile(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return (ext == ".txt" || ext == ".list") && fs::is_regular_file(path);
}

// The entries of a list file: one path per line, '#' comments, blank lines skipped; relative
// paths are relative to the list's folder.
std::vector<std::string> ReadListFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(Status::NotFound(path + ": cannot open video list"));
  std::vector<std::string> entries;
  std::string line;
  while (std::getline(in, line)) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    const fs::path p(line);
    entries.push_back(p.is_absolute() ? line : (fs::path(path).parent_path() / p).string());
  }
  return entries;
}

std::string Absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

// Every video the inputs name, absolute, in order of first mention.
std::vector<std::string> CampaignVideos(const std::vector<std::string>& inputs) {
  std::vector<std::string> expanded;
  for (const auto& in : inputs) {
    if (IsListFile(in)) {
      for (auto& e : ReadListFile(in)) expanded.push_back(std::move(e));
    } else {
      expanded.push_back(in);
    }
  }
  std::vector<std::string> videos, images;
  for (const auto& e : expanded) {
    std::error_code ec;
    if (!fs::exists(e, ec)) throw Error(Status::NotFound(e + ": no such file or folder"));
  }
  Status st = ExpandInputs(expanded, &videos, &images);
  if (!st.ok()) throw Error(st);
  if (!images.empty()) {
    throw Error(Status::InvalidArgument(images.front() + ": campaigns analyse videos (" +
                                        std::to_string(images.size()) +
                                        " images among the inputs); analyse images with `posebatch analyze`"));
  }
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (const auto& v : videos) {
    std::string a = Absolute(v);
    if (seen.insert(a).second) unique.push_back(std::move(a));
  }
  if (unique.empty()) throw Error(Status::NotFound("no videos among the inputs"));
  return unique;
}

}  // namespace

Status PlanCampaign(const std::string& model_path, const std::vector<std::string>& inputs, const PlanOptions& options,
                    const std::string& dir, Manifest* manifest) {
  if (options.shards < 1) return Status::InvalidArgument("shards must be >= 1");
  try {
    const std::string manifest_path = (fs::path(dir) / "manifest.jsonl").string();
    if (fs::exists(manifest_path)) {
      return Status::InvalidArgument(manifest_path +
                                     ": the folder already holds a campaign; plan into a new "
                                     "folder (or remove it)");
    }
    const std::vector<std::string> videos = CampaignVideos(inputs);
    std::unique_ptr<Analyzer> analyzer;  // loads the model: checks it and names the scorer
    Status st = Analyzer::Open(model_path, options.analyze, &analyzer);
    if (!st.ok()) return st;

    Manifest m;
    m.model = Absolute(model_path);
    m.workdir = fs::current_path().string();
    m.scorer = analyzer->scorer();
    m.analyze_args = options.analyze_args;
    m.save_csv = options.analyze.save_csv;
    m.outputs = VideoOutputSuffixes(VideoOutputsFor(options.analyze, analyzer->model().spec));
    m.shards = options.shards;
    m.created = ProcessIdentity();
    const std::string dest = options.analyze.dest_dir.empty() ? "" : Absolute(options.analyze.dest_dir);
    std::map<std::string, std::string> writer_of;  // output base -> video: two videos, one output?
    std::vector<int64_t> frames;
    for (const auto& path : videos) {
      CampaignVideo v;
      v.path = path;
      v.size_bytes = static_cast<int64_t>(fs::file_size(path));
      const auto source = OpenVideo(path, options.analyze.decode);  // throws naming an unreadable video
      const SourceInfo& info = source->info();
      v.frames = std::max<int64_t>(info.to_deliver >= 0 ? info.to_deliver : info.frame_count, 0);
      v.output_base = OutputBase(path, dest, m.scorer);
      const auto [it, fresh] = writer_of.emplace(v.output_base, path);
      if (!fresh) {
        return Status::InvalidArgument(path + " and " + it->second + " would both write " + v.output_base +
                                       ".h5 (same file name): give no --dest, or rename one");
      }
      frames.push_back(v.frames);
      m.videos.push_back(std::move(v));
    }
    const std::vector<int> shard_of = AssignShards(frames, m.shards);
    for (size_t i = 0; i < m.videos.size(); ++i) m.videos[i].shard = shard_of[i];
    fs::create_directories(dir);
    st = WriteManifest(manifest_path, m);
    if (!st.ok()) return st;
    *manifest = std::move(m);
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

}  // namespace posebatch
