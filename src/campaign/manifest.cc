// manifest.jsonl: a header line, then one line per video. JSON lines so that a manifest of
// thousands of videos reads line by line, diffs well and greps.
#include <yaml-cpp/yaml.h>

#include <fstream>

#include "campaign/json_text.h"
#include "posebatch/campaign.h"
#include "posebatch/video_outputs.h"

namespace posebatch {
namespace {

constexpr int kManifestVersion = 1;

template <typename T>
T Field(const YAML::Node& node, const char* key, const std::string& where) {
  const YAML::Node v = node[key];
  if (!v) throw Error(Status::InvalidArgument(where + ": missing \"" + key + "\""));
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(Status::InvalidArgument(where + ": \"" + key + "\" has the wrong type"));
  }
}

}  // namespace

Status WriteManifest(const std::string& path, const Manifest& m) {
  try {
    int64_t frames = 0;
    for (const auto& v : m.videos) frames += v.frames;
    std::string text = JsonObject()
                           .Add("posebatch_manifest", kManifestVersion)
                           .Add("model", m.model)
                           .Add("workdir", m.workdir)
                           .Add("scorer", m.scorer)
                           .Add("save_csv", m.save_csv)
                           .Add("outputs", m.outputs)
                           .Add("shards", m.shards)
                           .Add("videos", m.videos.size())
                           .Add("frames", frames)
                           .Add("created", m.created)
                           .Add("analyze_args", m.analyze_args)
                           .str() +
                       "\n";
    for (const auto& v : m.videos) {
      text += JsonObject()
                  .Add("video", v.path)
                  .Add("size", v.size_bytes)
                  .Add("frames", v.frames)
                  .Add("output", v.output_base)
                  .Add("shard", v.shard)
                  .str() +
              "\n";
    }
    WriteFileAtomically(path, text);
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

Status ReadManifest(const std::string& path, Manifest* m) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open campaign manifest");
  try {
    *m = Manifest{};
    std::string line;
    int number = 0;
    bool header = false;
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = path + " line " + std::to_string(number);
      YAML::Node node;
      try {
        node = YAML::Load(line);
      } catch (const YAML::Exception& e) {
        throw Error(Status::InvalidArgument(where + ": not valid JSON (" + e.what() + ")"));
      }
      if (!node.IsMap()) throw Error(Status::InvalidArgument(where + ": expected a JSON object"));
      if (!header) {
        if (!node["posebatch_manifest"]) {
          throw Error(Status::InvalidArgument(where + ": not a posebatch manifest (no \"posebatch_manifest\")"));
        }
        const int version = Field<int>(node, "posebatch_manifest", where);
        if (version != kManifestVersion) {
          throw Error(Status::InvalidArgument(where + ": manifest version " + std::to_string(version) +
                                              " (this posebatch reads version " + std::to_string(kManifestVersion) +
                                              ")"));
        }
        m->model = Field<std::string>(node, "model", where);
        m->workdir = Field<std::string>(node, "workdir", where);
        m->scorer = Field<std::string>(node, "scorer", where);
        m->save_csv = Field<bool>(node, "save_csv", where);
        if (node["outputs"]) {
          m->outputs = Field<std::vector<std::string>>(node, "outputs", where);
          if (m->outputs.empty() || m->outputs.front() != ".h5") {
            throw Error(Status::InvalidArgument(where + ": \"outputs\" must list the video's files, \".h5\" first"));
          }
        } else {  // planned before the manifest listed them
          VideoOutputSelection which;
          which.csv = m->save_csv;
          m->outputs = VideoOutputSuffixes(which);
        }
        m->shards = Field<int>(node, "shards", where);
        m->created = node["created"] ? node["created"].as<std::string>() : "";
        m->analyze_args = Field<std::vector<std::string>>(node, "analyze_args", where);
        if (m->shards < 1) throw Error(Status::InvalidArgument(where + ": shards must be >= 1"));
        header = true;
        continue;
      }
      CampaignVideo v;
      v.path = Field<std::string>(node, "video", where);
      v.size_bytes = Field<int64_t>(node, "size", where);
      v.frames = Field<int64_t>(node, "frames", where);
      v.output_base = Field<std::string>(node, "output", where);
      v.shard = Field<int>(node, "shard", where);
      if (v.shard < 0 || v.shard >= m->shards) {
        throw Error(Status::InvalidArgument(where + ": shard " + std::to_string(v.shard) + " is not in 0.." +
                                            std::to_string(m->shards - 1)));
      }
      m->videos.push_back(std::move(v));
    }
    if (!header) return Status::InvalidArgument(path + ": empty campaign manifest");
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kInvalidArgument);
  }
}

}  // namespace posebatch
