// The prediction files' prefix and _meta.pickle (prediction_meta.h).
#include "track/prediction_meta.h"

#include "io/file_bytes.h"
#include "io/torch_pickle.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

std::vector<std::string> Strings(const PyObject* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  for (const auto& item : v->items)
    if (item->is(PyObject::Type::kStr)) out.push_back(item->s);
  return out;
}

}  // namespace

std::string PredictionPrefix(const std::string& path) {
  for (const std::string suffix : {"_full.pickle", "_assemblies.pickle", "_meta.pickle"}) {
    if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return path.substr(0, path.size() - suffix.size());
    }
  }
  throw Error(Status::InvalidArgument(path + ": expected a DeepLabCut <video><scorer>_full.pickle, "
                                             "_assemblies.pickle or _meta.pickle"));
}

PredictionMeta ReadPredictionMeta(const std::string& path) {
  const std::string bytes = ReadFileBytes(path, "the _meta.pickle beside the predictions (DeepLabCut writes one)");
  PickleLimits limits;
  limits.numpy = true;
  PyRef root = ParsePickle(bytes, path, limits);
  const PyObject* data = root->Get("data");
  if (data == nullptr) throw Error(Status::InvalidArgument(path + ": not a DeepLabCut _meta.pickle (no 'data')"));
  PredictionMeta m;
  if (const PyObject* s = data->Get("Scorer"); s && s->is(PyObject::Type::kStr)) m.scorer = s->s;
  if (const PyObject* n = data->Get("nframes"); n && n->is(PyObject::Type::kInt)) m.nframes = n->i;
  m.bodyparts = Strings(data->Get("bodyparts"));
  m.unique_bodyparts = Strings(data->Get("unique_bodyparts"));
  m.individuals = Strings(data->Get("individuals"));
  if (const PyObject* cfg = data->Get("pytorch-config")) {
    if (const PyObject* md = cfg->Get("metadata")) {
      if (const PyObject* p = md->Get("pose_config_path"); p && p->is(PyObject::Type::kStr)) m.pose_config_path = p->s;
      if (const PyObject* p = md->Get("project_path"); p && p->is(PyObject::Type::kStr)) m.project_path = p->s;
    }
  }
  if (m.scorer.empty() || m.bodyparts.empty() || m.nframes <= 0) {
    throw Error(Status::InvalidArgument(path + ": the _meta.pickle lacks Scorer, bodyparts or nframes"));
  }
  return m;
}

}  // namespace posebatch
