// DeepLabCut's <stem><scorer>_meta.pickle, written with our own pickle writer.
#pragma once

#include <string>
#include <vector>

#include "posebatch/options.h"

namespace posebatch {

struct AnalysisMeta {
  double start = 0, stop = 0;  // Unix times of the run
  std::string scorer;
  std::string config_yaml;  // the model's pytorch_config, stored as a dict
  double fps = 0;
  int batch_size = 1;
  int width = 0, height = 0;  // frame dimensions
  long long nframes = 0;
  Crop crop;
  std::vector<std::string> individuals, bodyparts, unique_bodyparts;
};

// Writes atomically (temporary file, then rename). Throws Error naming the path.
void WriteMetaPickle(const std::string& path, const AnalysisMeta& meta);

}  // namespace posebatch
