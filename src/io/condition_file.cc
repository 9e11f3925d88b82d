// Conditions for CTD models from DeepLabCut predictions files (.h5, .json, .pickle), as
// DeepLabCut's CondFromFile reads them.
#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "io/file_bytes.h"
#include "io/h5_reader.h"
#include "io/json_file.h"
#include "io/torch_pickle.h"
#include "posebatch/pipeline.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

class ConditionTable : public ConditionProvider {
 public:
  explicit ConditionTable(int64_t k) : k_(k) {}

  at::Tensor ConditionsFor(int64_t index, const std::string& label) const override {
    if (label.empty()) {
      auto it = by_index_.find(index);
      if (it != by_index_.end()) return it->second;
    } else {
      auto it = by_label_.find(label);
      if (it == by_label_.end()) it = by_label_.find(std::filesystem::path(label).filename().string());
      if (it != by_label_.end()) return it->second;
    }
    return at::zeros({0, k_, 3}, at::kFloat);
  }

  // Also reachable by file name when no other entry has the same one.
  void AddLabel(const std::string& label, const at::Tensor& poses) {
    by_label_[label] = poses;
    const std::string name = std::filesystem::path(label).filename().string();
    if (name == label) return;
    if (by_label_.count(name) != 0 || ambiguous_.count(name) != 0) {
      by_label_.erase(name);
      ambiguous_[name] = true;
    } else {
      by_label_[name] = poses;
    }
  }

  int64_t k_;
  std::map<int64_t, at::Tensor> by_index_;
  std::map<std::string, at::Tensor> by_label_;
  std::map<std::string, bool> ambiguous_;
};

[[noreturn]] void Bad(const std::string& path, const std::string& why) {
  throw Error(Status::InvalidArgument(path + ": " + why));
}

// DeepLabCut's _parse_row: a keypoint with a NaN or negative value is zeroed; poses with no
// visible keypoint left are dropped. `row`: n x K x 3 values.
at::Tensor ParseH5Row(const double* row, int64_t n, int64_t k) {
  std::vector<float> kept;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> pose(static_cast<size_t>(k * 3));
    bool visible = false;
    for (int64_t j = 0; j < k; ++j) {
      const double* p = row + (i * k + j) * 3;
      const bool missing = std::isnan(p[0]) || std::isnan(p[1]) || std::isnan(p[2]) || p[0] < 0 || p[1] < 0 || p[2] < 0;
      for (int c = 0; c < 3; ++c) pose[static_cast<size_t>(j * 3 + c)] = missing ? 0.f : static_cast<float>(p[c]);
      visible = visible || !missing;
    }
    if (visible) kept.insert(kept.end(), pose.begin(), pose.end());
  }
  const int64_t m = static_cast<int64_t>(kept.size()) / (k * 3);
  return at::from_blob(kept.data(), {m, k, 3}, at::kFloat).clone();
}

std::unique_ptr<ConditionProvider> LoadH5(const std::string& path, int64_t k) {
  const PoseTable t = ReadPoseTable(path, /*with_columns=*/false);
  if (t.cols % (3 * k) != 0) {
    Bad(path, std::to_string(t.cols) + " columns are not individuals x " + std::to_string(k) +
                  " bodyparts x (x, y, likelihood) (the model's bodyparts; unique bodyparts are not conditions)");
  }
  const int64_t n = t.cols / (3 * k);
  auto out = std::make_unique<ConditionTable>(k);
  for (int64_t r = 0; r < t.rows; ++r) {
    at::Tensor poses = ParseH5Row(t.Row(r), n, k);
    if (!t.index.empty()) {
      out->by_index_[t.index[static_cast<size_t>(r)]] = poses;
    } else {
      out->AddLabel(t.labels[static_cast<size_t>(r)], poses);
    }
  }
  return out;
}

// A JSON list of poses [[x, y, score] x K] for one frame, taken as given (DeepLabCut's
// np.asarray).
at::Tensor ParseJsonPoses(const YAML::Node& poses, int64_t k, const std::string& path, const std::string& key) {
  if (!poses.IsSequence()) Bad(path, "entry '" + key + "' is not a list of poses");
  const int64_t n = static_cast<int64_t>(poses.size());
  at::Tensor out = at::empty({n, k, 3}, at::kFloat);
  float* o = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const YAML::Node& pose = poses[static_cast<size_t>(i)];
    if (!pose.IsSequence() || static_cast<int64_t>(pose.size()) != k) {
      Bad(path, "entry '" + key + "': pose " + std::to_string(i) + " does not have the model's " + std::to_string(k) +
                    " keypoints");
    }
    for (int64_t j = 0; j < k; ++j) {
      const YAML::Node& kp = pose[static_cast<size_t>(j)];
      if (!kp.IsSequence() || kp.size() != 3) Bad(path, "entry '" + key + "': a keypoint is not [x, y, score]");
      for (size_t c = 0; c < 3; ++c) {
        const std::string text = kp[c].as<std::string>();
        o[(i * k + j) * 3 + static_cast<int64_t>(c)] =
            (text == "NaN" || text == "nan" || text == ".nan") ? NAN : kp[c].as<float>();
      }
    }
  }
  return out;
}

std::unique_ptr<ConditionProvider> LoadJson(const std::string& path, int64_t k) {
  const YAML::Node root = LoadJsonFile(path, "conditions", "JSON");
  auto out = std::make_unique<ConditionTable>(k);
  try {
    if (root.IsSequence()) {  // one entry per frame, from frame 0
      for (size_t i = 0; i < root.size(); ++i) {
        out->by_index_[static_cast<int64_t>(i)] = ParseJsonPoses(root[i], k, path, std::to_string(i));
      }
    } else if (root.IsMap()) {  // image path (or frame number) -> poses
      for (const auto& entry : root) {
        const std::string key = entry.first.as<std::string>();
        at::Tensor poses = ParseJsonPoses(entry.second, k, path, key);
        char* end = nullptr;
        const long long number = std::strtoll(key.c_str(), &end, 10);
        if (!key.empty() && end != nullptr && *end == '\0') out->by_index_[number] = poses;
        out->AddLabel(key, poses);
      }
    } else {
      Bad(path, "conditions must be a list per frame or a mapping from image path to poses");
    }
  } catch (const YAML::Exception& e) {
    Bad(path, std::string("a value is not a number (") + e.what() + ")");
  }
  return out;
}

// One frame's poses from a prediction pickle, as DeepLabCut's load_conditions_pickle keeps
// them: (x, y, score) of each pose with a keypoint whose three values are all > 0.
at::Tensor KeepVisiblePoses(const at::Tensor& poses) {
  const at::Tensor xyz = poses.narrow(2, 0, 3).to(at::kFloat).contiguous();
  const at::Tensor keep = (xyz > 0).all(2).any(1);
  return xyz.index_select(0, keep.nonzero().squeeze(1)).contiguous();
}

at::Tensor ArrayOf(const PyObject& v, const std::string& path, const std::string& what) {
  if (!v.is(PyObject::Type::kTensor) || !v.tensor.defined()) Bad(path, what + " is not a numpy array");
  return v.tensor;
}

// `_assemblies.pickle`: a frame's assemblies, a list of (K, 4) arrays (or one (n, K, 4) array).
at::Tensor AssemblyPoses(const PyObject& v, int64_t k, const std::string& path, const std::string& where) {
  std::vector<at::Tensor> poses;
  if (v.is(PyObject::Type::kList) || v.is(PyObject::Type::kTuple)) {
    for (const auto& a : v.items) poses.push_back(ArrayOf(*a, path, where + ": an assembly").unsqueeze(0));
  } else {
    poses.push_back(ArrayOf(v, path, where));
  }
  if (poses.empty()) return at::zeros({0, k, 3}, at::kFloat);
  for (const at::Tensor& p : poses) {
    if (p.dim() != 3 || p.size(1) != k || p.size(2) < 3) {
      Bad(path, where + ": an assembly is not (" + std::to_string(k) + " keypoints x 3+ values) (the model has " +
                    std::to_string(k) + " bodyparts)");
    }
  }
  return KeepVisiblePoses(at::cat(poses, 0));
}

// `_full.pickle`: a frame's "coordinates" ([K arrays (n, 2)],) and "confidence" [K arrays (n, 1)].
at::Tensor FullPicklePoses(const PyObject& frame, int64_t k, const std::string& path, const std::string& where) {
  const PyObject* coords = frame.Get("coordinates");
  const PyObject* conf = frame.Get("confidence");
  if (coords == nullptr || conf == nullptr) Bad(path, where + " has no coordinates/confidence");
  if ((coords->is(PyObject::Type::kTuple) || coords->is(PyObject::Type::kList)) && coords->items.size() == 1 &&
      (coords->items[0]->is(PyObject::Type::kList) || coords->items[0]->is(PyObject::Type::kTuple))) {
    coords = coords->items[0].get();
  }
  if (static_cast<int64_t>(coords->items.size()) != k || static_cast<int64_t>(conf->items.size()) != k) {
    Bad(path, where + ": coordinates for " + std::to_string(coords->items.size()) + " bodyparts, the model has " +
                  std::to_string(k));
  }
  std::vector<at::Tensor> parts;
  for (int64_t j = 0; j < k; ++j) {
    const at::Tensor xy = ArrayOf(*coords->items[j], path, where + " coordinates").to(at::kFloat).reshape({-1, 2});
    const at::Tensor s = ArrayOf(*conf->items[j], path, where + " confidence").to(at::kFloat).reshape({-1, 1});
    if (xy.size(0) != s.size(0) || (j > 0 && xy.size(0) != parts[0].size(0))) {
      Bad(path, where + ": bodyparts hold different numbers of individuals");
    }
    parts.push_back(at::cat({xy, s}, 1));
  }
  return KeepVisiblePoses(at::stack(parts, 1));
}

std::unique_ptr<ConditionProvider> LoadPickle(const std::string& path, int64_t k) {
  const std::string bytes = ReadFileBytes(path, "conditions file");
  PickleLimits limits;
  limits.numpy = true;
  PyRef root;
  try {
    root = ParsePickle(bytes, path, limits);
  } catch (const Error& e) {
    Bad(path, "not a DeepLabCut predictions pickle (" + e.status().message() + ")");
  }
  if (!root->is(PyObject::Type::kDict)) Bad(path, "a predictions pickle holds a dict");
  auto out = std::make_unique<ConditionTable>(k);
  for (const auto& [key, value] : root->dict) {
    if (key->is(PyObject::Type::kInt)) {  // _assemblies.pickle
      out->by_index_[key->i] = AssemblyPoses(*value, k, path, "frame " + std::to_string(key->i));
      continue;
    }
    const std::string& name = key->s;  // _full.pickle: "frame0042"; "metadata", "single": not poses
    if (name.size() > 5 && name.compare(0, 5, "frame") == 0 && name.size() <= 5 + 15 &&
        name.find_first_not_of("0123456789", 5) == std::string::npos && value->is(PyObject::Type::kDict)) {
      out->by_index_[std::stoll(name.substr(5))] = FullPicklePoses(*value, k, path, name);
    }
  }
  if (out->by_index_.empty()) Bad(path, "no frames (neither an _assemblies.pickle nor a _full.pickle)");
  return out;
}

}  // namespace

std::unique_ptr<ConditionProvider> LoadConditions(const std::string& path, int64_t num_keypoints) {
  if (num_keypoints < 1) throw Error(Status::InvalidArgument(path + ": conditions need a model with bodyparts"));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(Status::NotFound(path + ": no such conditions file"));
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".h5" || ext == ".hdf5") return LoadH5(path, num_keypoints);
  if (ext == ".json") return LoadJson(path, num_keypoints);
  if (ext == ".pickle" || ext == ".pkl") return LoadPickle(path, num_keypoints);
  Bad(path,
      "conditions are read from DeepLabCut predictions (.h5, _assemblies.pickle, _full.pickle) or JSON (.json) files");
}

}  // namespace posebatch
