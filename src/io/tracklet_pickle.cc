// DeepLabCut's tracklet pickle (<stem><scorer>_el.pickle; tracking.md §2.8), as
// convert_detections2tracklets pickles its dict: "header" (a pandas MultiIndex over every joint
// x (x, y, likelihood)), "single" when there are unique bodyparts, then tracklet id ->
// {"frame%0Wd": row}. Written under <path>.part, renamed into place when complete.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "io/frame_key.h"
#include "io/pickle_stream.h"
#include "posebatch/tracking.h"

namespace posebatch {
namespace {

// pandas.MultiIndex.from_arrays([scorer x 3n, joint x 3 each, x/y/likelihood...],
// names=[scorer, bodyparts, coords]): what DeepLabCut's _create_tracklets_header builds.
void WriteHeader(PickleStream& p, const TrackletHeader& h) {
  p.BeginCall("pandas", "MultiIndex.from_arrays");
  p.BeginList();
  std::vector<std::string> scorers, joints, coords;
  for (const std::string& j : h.joints) {
    for (const char* c : {"x", "y", "likelihood"}) {
      scorers.push_back(h.scorer);
      joints.push_back(j);
      coords.push_back(c);
    }
  }
  p.Strings(scorers);
  p.Strings(joints);
  p.Strings(coords);
  p.EndList();
  p.None();  // sortorder
  p.Strings({"scorer", "bodyparts", "coords"});
  p.Call();
}

void WriteTracklet(PickleStream& p, const Tracklet& t, bool by_frame_index, int64_t bodyparts, int key_width) {
  p.BeginDict();
  for (size_t i = 0; i < t.frames.size(); ++i) {
    if (by_frame_index) {
      p.Int(t.frames[i]);
    } else {
      p.Str(FrameKey(t.frames[i], key_width));
    }
    const auto& row = t.rows[i];
    if (static_cast<int64_t>(row.size()) == bodyparts * 4) {
      p.Array({bodyparts, 4}, row.data());
    } else {
      p.Array({static_cast<int64_t>(row.size())}, row.data());  // a tracker's own prediction
    }
  }
  p.EndDict();
}

}  // namespace

Status WriteTrackletPickle(const std::string& path, const TrackletHeader& header, const Tracklets& tracklets,
                           const Assemblies& assemblies) {
  const std::string part = path + ".part";
  std::FILE* f = std::fopen(part.c_str(), "wb");
  if (f == nullptr) return Status::IOError(path + ": cannot create (" + std::strerror(errno) + ")");
  PickleStream p(f);
  p.Begin(4);
  p.BeginDict();
  p.Str("header");
  WriteHeader(p, header);
  if (assemblies.unique > 0) {
    p.Str("single");
    p.BeginDict();
    for (const auto& [frame, values] : assemblies.single) {
      if (frame >= header.num_frames) continue;
      p.Int(frame);
      p.Array({assemblies.unique, 3}, values.data());
    }
    p.EndDict();
  }
  p.EndDict();
  for (const Tracklet& t : tracklets.tracklets) {  // one SETITEMS each: written as they come
    p.MoreItems();
    if (tracklets.by_frame_index) {
      p.Int(t.id);  // DeepLabCut's tracklets[0]: a Python int key
    } else {
      p.NumpyInt64(t.id);
    }
    WriteTracklet(p, t, tracklets.by_frame_index, assemblies.bodyparts, KeyWidth(header.num_frames));
    p.EndDict();
  }
  p.End();
  const bool ok = p.ok() && std::fflush(f) == 0;
  const bool closed = std::fclose(f) == 0;
  std::error_code ec;
  if (!ok || !closed) {
    std::filesystem::remove(part, ec);
    return Status::IOError(path + ": write failed (disk full?)");
  }
  std::filesystem::rename(part, path, ec);
  if (ec) return Status::IOError(path + ": cannot rename into place (" + ec.message() + ")");
  return Status::OK();
}

}  // namespace posebatch
