// What damage cost one video, in words: the warnings `posebatch analyze` prints and the Python
// package logs (frames written as NaN and where, concealed frames, why decoding stopped).
#pragma once

#include <string>
#include <vector>

#include "posebatch/pipeline.h"

namespace posebatch {

// The warnings for a run's `stats` of `display` (the video), in order; empty when it met no
// damage. Sets *lost when frames were lost (rows of NaN) or decoding stopped before the end.
std::vector<std::string> DamageWarnings(const std::string& display, const RunStats& stats, bool* lost);

}  // namespace posebatch
