// libFuzzer target: arbitrary bytes given to the pickle interpreter directly (no zip around
// it, so the fuzzer spends its time on the opcodes), weights-only and with numpy arrays (as
// prediction pickles are read). Persistent ids fail cleanly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/torch_pickle.h"
#include "model/config_internal.h"
#include "posebatch/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace posebatch;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    PyRef root = ParsePickle(bytes, "fuzz.pkl");
    PyToYaml(*root);  // walks the whole tree, as loading an export's config does
  } catch (const Error&) {
  }
  // As prediction pickles are read (CTD conditions): numpy arrays and scalars allowed.
  try {
    PickleLimits limits;
    limits.numpy = true;
    limits.max_array_bytes = 1 << 24;
    ParsePickle(bytes, "fuzz.pkl", limits);
  } catch (const Error&) {
  }
  return 0;
}
