// libFuzzer target: arbitrary text parsed as a DeepLabCut pytorch_config.yaml.
#include <cstddef>
#include <cstdint>
#include <string>

#include "posebatch/model.h"
#include "posebatch/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace posebatch;
  try {
    ParseModelConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  } catch (const Error&) {
  }
  return 0;
}
