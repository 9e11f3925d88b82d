// DeepLabCut's tracklet pickle (<stem><scorer>_el.pickle; tracking.md §2.8), as
// convert_detections2tracklets pickles its dict: "header" (a pandas MultiIndex over every joint
// x (x, y, likelihood)), "single" when there are unique bodyparts, then tracklet id ->
// {"frame%0Wd": row}. Written under <path>.part, renamed into place when complete.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/file_bytes.h"
#include "io/frame_key.h"
#include "io/pickle_stream.h"
#include "io/torch_pickle.h"
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

[[noreturn]] void Bad(const std::string& path, const std::string& what) {
  throw Error(Status::InvalidArgument(path + ": not a DeepLabCut tracklet pickle (" + what + ")"));
}

std::vector<std::string> StrList(const PyObject* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  for (const auto& item : v->items) out.push_back(item->is(PyObject::Type::kStr) ? item->s : "");
  return out;
}

// One level's values of the header, in column order: from_arrays' arrays, or a MultiIndex's
// levels indexed by its codes.
std::vector<std::string> LevelValues(const PyObject& header, const std::string& level) {
  const std::vector<std::string> names = StrList(header.Get("names"));
  const auto it = std::find(names.begin(), names.end(), level);
  if (it == names.end()) return {};
  const size_t l = static_cast<size_t>(it - names.begin());
  if (const PyObject* arrays = header.Get("arrays")) {
    return l < arrays->items.size() ? StrList(arrays->items[l].get()) : std::vector<std::string>{};
  }
  const PyObject* levels = header.Get("levels");
  const PyObject* codes = header.Get("codes");
  if (levels == nullptr || codes == nullptr || l >= levels->items.size() || l >= codes->items.size()) return {};
  const std::vector<std::string> labels = StrList(levels->items[l]->Get("data"));
  const PyObject& code = *codes->items[l];
  if (!code.is(PyObject::Type::kTensor)) return {};
  const at::Tensor c = code.tensor.to(at::kLong).contiguous();
  std::vector<std::string> out;
  for (int64_t i = 0; i < c.numel(); ++i) {
    const int64_t k = c.data_ptr<int64_t>()[i];
    out.push_back(k >= 0 && k < static_cast<int64_t>(labels.size()) ? labels[static_cast<size_t>(k)] : "");
  }
  return out;
}

std::vector<std::string> UniqueInOrder(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const auto& s : v)
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

// TrackletStitcher.get_frame_ind: the first run of digits of a string key, or the int key.
int64_t FrameOfKey(const PyObject& key, const std::string& path) {
  if (key.is(PyObject::Type::kInt)) return key.i;
  if (key.is(PyObject::Type::kStr)) {
    const size_t a = key.s.find_first_of("0123456789");
    if (a != std::string::npos) {
      const size_t b = key.s.find_first_not_of("0123456789", a);
      return std::stoll(key.s.substr(a, b == std::string::npos ? std::string::npos : b - a));
    }
  }
  Bad(path, "a frame key without a frame number");
}

// np.asarray of an entry's rows: (keypoints, 3 or 4) arrays as they are, flat (3 x keypoints)
// ones (the skeleton tracker's own predictions) as (keypoints, 3). A mix of both (which
// DeepLabCut cannot stack) keeps 4 columns, the flat rows' identity NaN.
TrackletRows RowsOf(const PyObject& entry, const std::string& path) {
  TrackletRows t;
  std::vector<at::Tensor> rows;
  for (const auto& [k, v] : entry.dict) {
    if (!v->is(PyObject::Type::kTensor) || v->tensor.dim() < 1 || v->tensor.dim() > 2)
      Bad(path, "a row is not an array");
    t.frames.push_back(FrameOfKey(*k, path));
    rows.push_back(v->tensor.to(at::kDouble).contiguous());
  }
  for (const at::Tensor& r : rows) {
    const int64_t k = r.dim() == 2 ? r.size(0) : r.size(0) / 3;
    const int64_t c = r.dim() == 2 ? r.size(1) : 3;
    if ((r.dim() == 2 && c != 3 && c != 4) || (r.dim() == 1 && r.size(0) % 3 != 0)) Bad(path, "a row of odd shape");
    if (t.keypoints != 0 && k != t.keypoints) Bad(path, "rows of different keypoint counts in one tracklet");
    t.keypoints = k;
    t.columns = std::max(t.columns, c);
  }
  for (const at::Tensor& r : rows) {
    const double* p = r.data_ptr<double>();
    const int64_t c = r.dim() == 2 ? r.size(1) : 3;
    for (int64_t j = 0; j < t.keypoints; ++j) {
      for (int64_t q = 0; q < t.columns; ++q) {
        t.values.push_back(q < c ? p[j * c + q] : std::numeric_limits<double>::quiet_NaN());
      }
    }
  }
  // Tracklet(): a stable sort when the frames are not strictly increasing.
  bool increasing = true;
  for (size_t i = 1; i < t.frames.size(); ++i) increasing = increasing && t.frames[i - 1] < t.frames[i];
  if (!increasing) {
    std::vector<size_t> order(t.frames.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return t.frames[a] < t.frames[b]; });
    TrackletRows sorted = t;
    const size_t width = static_cast<size_t>(t.keypoints * t.columns);
    for (size_t i = 0; i < order.size(); ++i) {
      sorted.frames[i] = t.frames[order[i]];
      std::copy_n(t.values.begin() + order[i] * width, width, sorted.values.begin() + i * width);
    }
    t = std::move(sorted);
  }
  return t;
}

}  // namespace

Status ReadTrackletPickle(const std::string& path, TrackletFile* out) {
  try {
    const std::string bytes = ReadFileBytes(path, "the tracklet pickle");
    PickleLimits limits;
    limits.numpy = true;
    limits.pandas_index = true;
    PyRef root;
    try {
      root = ParsePickle(bytes, path, limits);
    } catch (const Error& e) {
      Bad(path, e.status().message());
    }
    if (!root->is(PyObject::Type::kDict)) Bad(path, "it holds no dict");
    *out = TrackletFile{};
    for (const auto& [key, value] : root->dict) {
      if (key->is(PyObject::Type::kStr) && key->s == "header") {
        if (value->is(PyObject::Type::kDict)) {
          const std::vector<std::string> scorers = UniqueInOrder(LevelValues(*value, "scorer"));
          out->scorer = scorers.empty() ? "" : scorers.front();
          out->bodyparts = UniqueInOrder(LevelValues(*value, "bodyparts"));
        }
        continue;
      }
      if (!value->is(PyObject::Type::kDict)) Bad(path, "an entry is not a dict of frames");
      if (value->dict.empty()) continue;  // from_dict_of_dict skips empty tracklets
      TrackletRows rows = RowsOf(*value, path);
      if (key->is(PyObject::Type::kStr) && key->s == "single") {
        out->has_single = true;
        out->single = std::move(rows);
      } else {
        out->tracklets.push_back(std::move(rows));
      }
    }
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

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
