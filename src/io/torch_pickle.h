// Reads torch.save() zip archives (DeepLabCut exports and snapshots) without executing
// anything: a pickle interpreter that accepts only the globals torch.load(weights_only=True)
// accepts, and rebuilds tensors straight from the archive's storages.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace posebatch {

class ZipArchive;

// A Python value from a pickle. Containers are shared: the pickle memo may refer to them.
struct PyObject;
using PyRef = std::shared_ptr<PyObject>;

struct PyObject {
  enum class Type {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kBytes,
    kList,
    kTuple,
    kDict,
    kTensor,
    kGlobal,
    kStorage,
    kDtype
  };
  Type type = Type::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                              // str, bytes, global name ("module.name"), dtype ("f8")
  std::vector<PyRef> items;                   // list, tuple
  std::vector<std::pair<PyRef, PyRef>> dict;  // dict / OrderedDict, in insertion order
  at::Tensor tensor;                          // tensor (also a numpy array); storage (flat, 1-D)
  // Reader bookkeeping: containers nest at most PickleLimits::max_depth deep, and a container
  // placed inside another is frozen (never modified again), so no pickle can build a cycle.
  uint32_t depth = 0;
  bool frozen = false;

  bool is(Type t) const { return type == t; }
  // Dict lookup by string key; nullptr if absent (or not a dict).
  const PyObject* Get(const std::string& key) const;
  std::string TypeName() const;
};

struct PickleLimits {
  size_t max_stack = 1 << 20;                  // values on the unpickler stack
  size_t max_memo = 1 << 22;                   // memo entries
  size_t max_container = 1 << 24;              // items in one list/dict
  uint32_t max_depth = 100;                    // nesting of containers (state dicts need 3 or 4)
  int64_t max_array_bytes = int64_t{1} << 32;  // data of one numpy array
  // Read numpy arrays (as tensors) and scalars, as DeepLabCut's prediction pickles hold them.
  // Off for model files, which torch.load(weights_only=True) reads without numpy.
  bool numpy = false;
  // With numpy: pandas Index / MultiIndex objects (a tracklet pickle's "header") become a dict
  // of their state plus "__class__"; 1-D object arrays of str / numbers become lists.
  bool pandas_index = false;
};

// Parses `data.pkl` of `archive` (found under any top folder). Throws Error (kCorrupt for
// malformed input, kModelError for a forbidden global) naming archive->path().
PyRef LoadTorchPickle(const std::shared_ptr<ZipArchive>& archive, const PickleLimits& limits = {});

// Convenience: opens the file and parses it.
PyRef LoadTorchFile(const std::string& path);

// Parses a bare pickle with no storages (e.g. fuzzing the interpreter); persistent ids fail.
PyRef ParsePickle(const std::string& bytes, const std::string& name, const PickleLimits& limits = {});

}  // namespace posebatch
