// build_tracklets and convert_detections2tracklets (DeepLabCut 3.0.1,
// pose_estimation_pytorch/apis/tracklets.py): the facts in ../shared/reference/tracking.md §1.3, §2.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "io/file_bytes.h"
#include "io/torch_pickle.h"
#include "posebatch/tracking.h"
#include "predict/linear_assignment.h"
#include "track/sort_trackers.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void Bad(const std::string& path, const std::string& what) {
  throw Error(Status::Corrupt(path + ": " + what));
}

PyRef ReadPickleFile(const std::string& path, const std::string& what) {
  const std::string bytes = ReadFileBytes(path, "the " + what);
  PickleLimits limits;
  limits.numpy = true;
  try {
    return ParsePickle(bytes, path, limits);
  } catch (const Error& e) {
    Bad(path, "not a DeepLabCut " + what + " (" + e.status().message() + ")");
  }
}

// The (n, K, 4) float64 array of one frame (or a list of (K, 4) arrays).
FrameAssemblies FrameOf(const PyObject& v, int64_t* bodyparts, const std::string& path, int64_t frame) {
  std::vector<at::Tensor> parts;
  if (v.is(PyObject::Type::kTensor)) {
    parts.push_back(v.tensor);
  } else if (v.is(PyObject::Type::kList) || v.is(PyObject::Type::kTuple)) {
    for (const auto& item : v.items) {
      if (!item->is(PyObject::Type::kTensor)) Bad(path, "frame " + std::to_string(frame) + ": not an array");
      parts.push_back(item->tensor.unsqueeze(0));
    }
  } else {
    Bad(path, "frame " + std::to_string(frame) + ": not an array of assemblies");
  }
  FrameAssemblies out;
  for (at::Tensor t : parts) {
    if (t.dim() != 3 || t.size(2) != 4) Bad(path, "frame " + std::to_string(frame) + ": assemblies are not (n, K, 4)");
    if (t.size(0) == 0) continue;
    if (*bodyparts < 0) *bodyparts = t.size(1);
    if (t.size(1) != *bodyparts) Bad(path, "frame " + std::to_string(frame) + ": another number of bodyparts");
    t = t.to(at::kDouble).contiguous();
    out.rows += t.size(0);
    out.values.insert(out.values.end(), t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  return out;
}

// softmax of the summed scores per present id, into mat[row, id] (the identity_only vote).
void VoteIdentities(const double* animal, int64_t k, int64_t row, int64_t ids, std::vector<double>* mat,
                    const std::string& where) {
  std::map<double, double> total;  // np.unique (sorted) + bincount(weights=score)
  for (int64_t j = 0; j < k; ++j) {
    const double* p = animal + j * 4;
    if (std::isnan(p[0]) || std::isnan(p[1]) || std::isnan(p[2]) || std::isnan(p[3])) continue;
    total[p[3]] += p[2];
  }
  if (total.empty()) return;
  double top = -std::numeric_limits<double>::infinity();
  for (const auto& [id, s] : total) top = std::max(top, s);
  double sum = 0;
  for (const auto& [id, s] : total) sum += std::exp(s - top);
  for (const auto& [id, s] : total) {
    const auto col = static_cast<int64_t>(id);
    if (col < 0 || col >= ids) {
      throw Error(Status::InvalidArgument(where + ": identity " + std::to_string(col) + " is not below topktoretain " +
                                          std::to_string(ids)));
    }
    (*mat)[static_cast<size_t>(row * ids + col)] = std::exp(s - top) / sum;
  }
}

class TrackletSink {
 public:
  explicit TrackletSink(Tracklets* out) : out_(out) {}
  void Add(int64_t id, int64_t frame, std::vector<double> row) {
    auto it = index_.find(id);
    if (it == index_.end()) {
      it = index_.emplace(id, out_->tracklets.size()).first;
      out_->tracklets.push_back({id, {}, {}});
    }
    Tracklet& t = out_->tracklets[it->second];
    t.frames.push_back(frame);
    t.rows.push_back(std::move(row));
  }

 private:
  Tracklets* out_;
  std::map<int64_t, size_t> index_;
};

// topktoretain == 1: the first assembly of each frame, rows below pcutoff all NaN.
void FirstAssemblies(const Assemblies& a, const TrackletOptions& o, int64_t num_frames, Tracklets* out) {
  out->by_frame_index = true;
  out->tracklets.push_back({0, {}, {}});
  const size_t width = static_cast<size_t>(a.bodyparts) * 4;
  for (int64_t index = 0; index < num_frames; ++index) {
    auto it = a.frames.find(index);
    if (it == a.frames.end() || it->second.rows == 0) continue;
    std::vector<double> row(it->second.values.begin(), it->second.values.begin() + static_cast<std::ptrdiff_t>(width));
    for (int64_t j = 0; j < a.bodyparts; ++j)
      if (row[static_cast<size_t>(j * 4 + 2)] < o.pcutoff) std::fill_n(row.begin() + j * 4, 4, kNaN);
    out->tracklets[0].frames.push_back(index);
    out->tracklets[0].rows.push_back(std::move(row));
  }
}

}  // namespace

const char* TrackMethodName(TrackMethod m) {
  return m == TrackMethod::kBox ? "box" : m == TrackMethod::kSkeleton ? "skeleton" : "ellipse";
}
const char* TrackMethodSuffix(TrackMethod m) {
  return m == TrackMethod::kBox ? "_bx" : m == TrackMethod::kSkeleton ? "_sk" : "_el";
}

Status ReadInferenceConfig(const std::string& path, TrackletOptions* o) {
  try {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return Status::NotFound(path + ": no such inference configuration");
    const YAML::Node n = YAML::LoadFile(path);
    if (!n.IsMap()) return Status::InvalidArgument(path + ": not a DeepLabCut inference_cfg.yaml");
    if (n["pcutoff"]) o->pcutoff = n["pcutoff"].as<double>();
    if (n["topktoretain"]) o->topktoretain = n["topktoretain"].as<int>();
    if (n["boundingboxslack"]) o->boundingboxslack = n["boundingboxslack"].as<double>();
    if (n["iou_threshold"]) o->iou_threshold = n["iou_threshold"].as<double>();
    if (n["max_age"]) o->max_age = n["max_age"].as<int>();
    if (n["min_hits"]) o->min_hits = n["min_hits"].as<int>();
    if (o->topktoretain < 1) return Status::InvalidArgument(path + ": topktoretain must be >= 1");
    return Status::OK();
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ": " + e.what());
  }
}

Status ReadAssemblies(const std::string& path, Assemblies* out) {
  try {
    PyRef root = ReadPickleFile(path, "assemblies pickle");
    if (!root->is(PyObject::Type::kDict)) Bad(path, "an assemblies pickle holds a dict");
    *out = Assemblies{};
    int64_t bodyparts = -1;
    for (const auto& [key, value] : root->dict) {
      if (key->is(PyObject::Type::kStr) && key->s == "single") {
        if (!value->is(PyObject::Type::kDict)) Bad(path, "'single' is not a dict of frames");
        for (const auto& [fk, fv] : value->dict) {
          if (!fk->is(PyObject::Type::kInt) || !fv->is(PyObject::Type::kTensor) || fv->tensor.dim() != 2) {
            Bad(path, "'single' holds a frame that is not (n_unique, 3)");
          }
          const at::Tensor t = fv->tensor.to(at::kFloat).contiguous();
          out->unique = t.size(0);
          out->single[fk->i].assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
        }
        continue;
      }
      if (!key->is(PyObject::Type::kInt)) Bad(path, "a key is neither a frame number nor 'single'");
      out->frames[key->i] = FrameOf(*value, &bodyparts, path, key->i);
    }
    out->bodyparts = std::max<int64_t>(bodyparts, 0);
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

namespace {

// One frame's animals for the trackers: keypoints with a negative value or below pcutoff lose
// x, y (score and id kept); animals with no x, y left are dropped (build_tracklets' masking).
struct FrameAnimals {
  int64_t n = 0;               // animals kept
  std::vector<double> values;  // n x bodyparts x (x, y, score, id)
};

FrameAnimals MaskedAnimals(const FrameAssemblies& frame, int64_t k, double pcutoff) {
  FrameAnimals out;
  for (int64_t r = 0; r < frame.rows; ++r) {
    std::vector<double> row(frame.values.begin() + r * k * 4, frame.values.begin() + (r + 1) * k * 4);
    bool any = false;
    for (int64_t j = 0; j < k; ++j) {
      double* p = row.data() + j * 4;
      if (p[0] < 0 || p[1] < 0 || p[2] < 0 || p[2] < pcutoff) p[0] = p[1] = kNaN;
      any = any || !std::isnan(p[0]) || !std::isnan(p[1]);
    }
    if (!any) continue;
    out.values.insert(out.values.end(), row.begin(), row.end());
    ++out.n;
  }
  return out;
}

// calc_bboxes_from_keypoints: nanmin / nanmax of each animal's x, y, widened by the slack.
std::vector<std::array<double, 4>> BoxesOf(const FrameAnimals& animals, int64_t k, double slack) {
  std::vector<std::array<double, 4>> boxes;
  auto widen = [](double v, double* lo, double* hi) {
    if (std::isnan(v)) return;
    *lo = std::isnan(*lo) ? v : std::min(*lo, v);
    *hi = std::isnan(*hi) ? v : std::max(*hi, v);
  };
  for (int64_t r = 0; r < animals.n; ++r) {
    double x1 = kNaN, y1 = kNaN, x2 = kNaN, y2 = kNaN;
    for (int64_t j = 0; j < k; ++j) {
      const double* p = animals.values.data() + (r * k + j) * 4;
      widen(p[0], &x1, &x2);
      widen(p[1], &y1, &y2);
    }
    boxes.push_back({x1 - slack, y1 - slack, x2 + slack, y2 + slack});
  }
  return boxes;
}

// The animals' x, y only (what the ellipse and skeleton trackers see).
std::vector<double> PositionsOf(const FrameAnimals& animals, int64_t k) {
  std::vector<double> xy(static_cast<size_t>(animals.n * k * 2));
  for (int64_t i = 0; i < animals.n * k; ++i) {
    xy[static_cast<size_t>(2 * i)] = animals.values[static_cast<size_t>(4 * i)];
    xy[static_cast<size_t>(2 * i + 1)] = animals.values[static_cast<size_t>(4 * i + 1)];
  }
  return xy;
}

// identity_only: each animal to the identity its keypoints vote for, one animal per identity.
std::vector<track::Emission> AssignByIdentity(const FrameAnimals& animals, int64_t k, int64_t ids, int64_t frame) {
  std::vector<double> mat(static_cast<size_t>(animals.n * ids), 0.0);
  for (int64_t r = 0; r < animals.n; ++r)
    VoteIdentities(animals.values.data() + r * k * 4, k, r, ids, &mat, "frame " + std::to_string(frame));
  std::vector<track::Emission> emitted;
  for (const auto& [row, col] : SolveLinearAssignment(mat, animals.n, ids, /*maximize=*/true))
    emitted.push_back({col, row, {}});
  return emitted;
}

// fill_tracklets: each reported tracker's row this frame, in the order reported.
void Fill(const std::vector<track::Emission>& emitted, const FrameAnimals& animals, int64_t k, int64_t frame,
          TrackletSink* sink) {
  for (const auto& e : emitted) {
    if (e.detection >= 0) {
      const auto* row = animals.values.data() + e.detection * k * 4;
      sink->Add(e.id, frame, std::vector<double>(row, row + k * 4));
      continue;
    }
    std::vector<double> pred;  // the tracker's own prediction, likelihood 1 after each (x, y)
    for (size_t i = 0; i + 1 < e.state.size(); i += 2) pred.insert(pred.end(), {e.state[i], e.state[i + 1], 1.0});
    sink->Add(e.id, frame, std::move(pred));
  }
}

}  // namespace

Status BuildTracklets(const Assemblies& a, const TrackletOptions& o, int64_t num_frames, Tracklets* out) {
  try {
    *out = Tracklets{};
    if (o.topktoretain == 1) {
      FirstAssemblies(a, o, num_frames, out);
      return Status::OK();
    }
    if (o.method == TrackMethod::kSkeleton && a.unique > 0) {
      return Status::InvalidArgument(
          "the skeleton tracker cannot track a project with unique bodyparts (DeepLabCut's fails on such "
          "projects too): use ellipse or box");
    }
    const int64_t k = a.bodyparts;
    track::SortEllipse ellipse(o.max_age, o.min_hits, o.iou_threshold);
    track::SortBox box(o.max_age, o.min_hits, o.iou_threshold);
    track::SortSkeleton skeleton(static_cast<int>(k), o.max_age, o.min_hits);
    TrackletSink sink(out);
    for (int64_t index = 0; index < num_frames; ++index) {  // frames without animals: no tracker call
      auto it = a.frames.find(index);
      if (it == a.frames.end() || it->second.rows == 0) continue;
      const FrameAnimals animals = MaskedAnimals(it->second, k, o.pcutoff);
      if (animals.n == 0) continue;
      const auto n = static_cast<int>(animals.n);
      std::vector<track::Emission> emitted;
      if (o.identity_only) {
        emitted = AssignByIdentity(animals, k, o.topktoretain, index);
      } else if (o.method == TrackMethod::kBox) {
        emitted = box.Track(BoxesOf(animals, k, o.boundingboxslack));
      } else if (o.method == TrackMethod::kSkeleton) {
        emitted = skeleton.Track(PositionsOf(animals, k), n);
      } else {
        emitted = ellipse.Track(PositionsOf(animals, k), n, static_cast<int>(k));
      }
      Fill(emitted, animals, k, index, &sink);
    }
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace posebatch
