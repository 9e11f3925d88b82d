// numpy's summation order for a contiguous float64 reduction (np.sum / np.mean: pairwise, 8
// accumulators per block of up to 128), so that means computed here round as DeepLabCut's do.
#pragma once

#include <cstddef>
#include <vector>

namespace posebatch::track {

inline double NumpyPairwiseSum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return NumpyPairwiseSum(a, n2) + NumpyPairwiseSum(a + n2, n - n2);
}

inline double NumpySum(const std::vector<double>& v) { return NumpyPairwiseSum(v.data(), v.size()); }
inline double NumpyMean(const std::vector<double>& v) { return NumpySum(v) / static_cast<double>(v.size()); }

}  // namespace posebatch::track
