// DeepLabCut's per-frame keys in its pickles ("frame" + str(i).zfill(width)), for the
// _full.pickle and the tracklet pickle alike.
#pragma once

#include <cstdint>
#include <string>

namespace posebatch {

// DeepLabCut's key width: int(np.ceil(np.log10(nframes))), computed without floating point.
inline int KeyWidth(int64_t n) {
  int w = 0;
  for (int64_t p = 1; p < n; p *= 10) ++w;
  return w;
}

inline std::string FrameKey(int64_t i, int width) {
  std::string digits = std::to_string(i);
  if (static_cast<int>(digits.size()) < width) digits.insert(0, static_cast<size_t>(width) - digits.size(), '0');
  return "frame" + digits;
}

}  // namespace posebatch
