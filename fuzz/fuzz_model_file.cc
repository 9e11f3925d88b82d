// libFuzzer target: arbitrary bytes opened as a torch.save zip archive, unpickled with the
// weights-only interpreter, and (when the pickle holds a DeepLabCut export's "config") turned
// into a ModelSpec: everything LoadModel does with a model file before building the network.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/torch_pickle.h"
#include "io/zip_archive.h"
#include "model/config_internal.h"
#include "posebatch/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace posebatch;
  try {
    auto archive = ZipArchive::FromBytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pt");
    PyRef root = LoadTorchPickle(archive);
    if (const posebatch::PyObject* config = root->Get("config")) {
      ParseModelConfigNode(PyToYaml(*config), "fuzz.pt");
    }
  } catch (const Error&) {
    // Malformed input must end as a posebatch::Error; anything else escapes and is a finding.
  }
  return 0;
}
