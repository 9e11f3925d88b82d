// OpenCV's BORDER_REFLECT_101 (DeepLabCut's padding and blur borders): index i mapped into
// [0, n) by mirroring about the edge pixels, -1 -> 1, n -> n-2.
#pragma once

namespace posebatch {

inline int Reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
  }
  return i;
}

}  // namespace posebatch
