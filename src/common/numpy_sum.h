// numpy's summation order for a contiguous reduction (np.sum / np.mean: pairwise, 8 partial sums
// per block of up to 128 values, halves above), so that sums computed here round as
// DeepLabCut's do: SimCC's softmax denominators (float32), the trackers' ellipse means (float64).
#pragma once

#include <cstdint>
#include <vector>

namespace posebatch {

template <typename T>
T NumpyPairwiseSum(const T* a, int64_t n) {
  if (n < 8) {
    T r = 0;  // numpy starts from -0.0 only for the reduction identity; 0 + x == x here
    for (int64_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return NumpyPairwiseSum(a, n2) + NumpyPairwiseSum(a + n2, n - n2);
}

inline double NumpyMean(const std::vector<double>& v) {
  return NumpyPairwiseSum(v.data(), static_cast<int64_t>(v.size())) / static_cast<double>(v.size());
}

}  // namespace posebatch
