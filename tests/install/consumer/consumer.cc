// Analyses one video with the installed library (public headers only) and prints the outputs.
#include <cstdio>

#include "posebatch/analyze.h"
#include "posebatch/version.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: consumer MODEL VIDEO DEST\n");
    return 2;
  }
  posebatch::AnalyzeOptions options;
  options.dest_dir = argv[3];
  options.save_csv = true;
  posebatch::AnalyzeResult result;
  posebatch::Status st = posebatch::Analyze(argv[1], {argv[2]}, options, &result);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("posebatch %s scorer %s\n", posebatch::kVersion, result.scorer.c_str());
  for (const auto& input : result.inputs)
    for (const auto& file : input.outputs) std::printf("%s\n", file.c_str());
  return 0;
}
