#include "io/meta_pickle.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "io/py_pickle.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

// YAML scalars carry no types: read them back as YAML 1.1 would (bool, null, int, float, str).
PyValue Scalar(const std::string& s) {
  if (s == "true" || s == "True") return PyValue::Bool(true);
  if (s == "false" || s == "False") return PyValue::Bool(false);
  if (s == "null" || s == "~" || s.empty()) return PyValue::None();
  char* end = nullptr;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (end != s.c_str() && *end == '\0') return PyValue::Int(i);
  double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() && *end == '\0') return PyValue::Float(d);
  return PyValue::Str(s);
}

PyValue FromYaml(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      std::vector<std::pair<PyValue, PyValue>> kv;
      for (const auto& e : n) kv.emplace_back(PyValue::Str(e.first.as<std::string>()), FromYaml(e.second));
      return PyValue::Dict(std::move(kv));
    }
    case YAML::NodeType::Sequence: {
      std::vector<PyValue> items;
      for (const auto& e : n) items.push_back(FromYaml(e));
      return PyValue::List(std::move(items));
    }
    case YAML::NodeType::Scalar:
      return n.Tag() == "!" ? PyValue::Str(n.Scalar()) : Scalar(n.Scalar());  // quoted stays a string
    default:
      return PyValue::None();
  }
}

PyValue Strings(const std::vector<std::string>& v) {
  std::vector<PyValue> items;
  for (const auto& s : v) items.push_back(PyValue::Str(s));
  return PyValue::List(std::move(items));
}

}  // namespace

void WriteMetaPickle(const std::string& path, const AnalysisMeta& m) {
  PyValue config = PyValue::None();
  try {
    if (!m.config_yaml.empty()) config = FromYaml(YAML::Load(m.config_yaml));
  } catch (const YAML::Exception&) {
  }
  PyValue data = PyValue::Dict({
      {PyValue::Str("start"), PyValue::Float(m.start)},
      {PyValue::Str("stop"), PyValue::Float(m.stop)},
      {PyValue::Str("run_duration"), PyValue::Float(m.stop - m.start)},
      {PyValue::Str("Scorer"), PyValue::Str(m.scorer)},
      {PyValue::Str("pytorch-config"), config},
      {PyValue::Str("fps"), PyValue::Float(m.fps)},
      {PyValue::Str("batch_size"), PyValue::Int(m.batch_size)},
      {PyValue::Str("frame_dimensions"), PyValue::Tuple({PyValue::Int(m.width), PyValue::Int(m.height)})},
      {PyValue::Str("nframes"), PyValue::Int(m.nframes)},
      {PyValue::Str("iteration (active-learning)"), PyValue::None()},  // unknown outside a project
      {PyValue::Str("training set fraction"), PyValue::None()},
      {PyValue::Str("cropping"), PyValue::Bool(m.crop.enabled())},
      {PyValue::Str("cropping_parameters"),
       m.crop.enabled()
           ? PyValue::List(
                 {PyValue::Int(m.crop.x1), PyValue::Int(m.crop.x2), PyValue::Int(m.crop.y1), PyValue::Int(m.crop.y2)})
           : PyValue::List({PyValue::Int(0), PyValue::Int(m.width), PyValue::Int(0), PyValue::Int(m.height)})},
      {PyValue::Str("individuals"), Strings(m.individuals)},
      {PyValue::Str("bodyparts"), Strings(m.bodyparts)},
      {PyValue::Str("unique_bodyparts"), Strings(m.unique_bodyparts)},
  });
  const std::string bytes = PyValue::Dict({{PyValue::Str("data"), data}}).Pickle0();
  const std::string tmp = path + ".part";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) throw Error(Status::IOError(tmp + ": cannot create file (" + std::strerror(errno) + ")"));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  int write_errno = ok ? 0 : errno;
  if (std::fclose(f) != 0 && ok) {  // buffered data hits the disk here
    ok = false;
    write_errno = errno;
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    const std::string why = write_errno == ENOSPC ? "disk full"
                            : write_errno != 0    ? std::strerror(write_errno)
                                                  : "cannot rename into place";
    throw Error(Status::IOError(path + ": cannot write (" + why + ")"));
  }
}

}  // namespace posebatch
