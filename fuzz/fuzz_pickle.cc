// libFuzzer target: arbitrary bytes given to the weights-only pickle interpreter directly (no
// zip around it, so the fuzzer spends its time on the opcodes). Persistent ids fail cleanly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/torch_pickle.h"
#include "model/config_internal.h"
#include "posebatch/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace posebatch;
  try {
    PyRef root = ParsePickle(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pkl");
    PyToYaml(*root);  // walks the whole tree, as loading an export's config does
  } catch (const Error&) {
  }
  return 0;
}
