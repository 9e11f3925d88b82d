#include "model/native/registry.h"

#include <mutex>

namespace posebatch::native {

std::map<std::string, BackboneBuilder>& BackboneRegistry() {
  static std::map<std::string, BackboneBuilder> r;
  return r;
}

std::map<std::string, HeadBuilder>& HeadRegistry() {
  static std::map<std::string, HeadBuilder> r;
  return r;
}

void RegisterAll() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterResNet();
    RegisterDLCRNet();
    RegisterHRNet();
    RegisterHeatmapHead();
    RegisterDLCRNetHead();
    RegisterDekrHead();
    RegisterCSPNeXt();
    RegisterRTMCCHead();
  });
}

}  // namespace posebatch::native
