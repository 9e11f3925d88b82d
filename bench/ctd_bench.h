// posebatch-bench's CTD case: a bottom-up conditions model + a CTD model on one video, the
// asynchronous pipeline against the same stages run one after another (DeepLabCut's scheme).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "bench_util.h"
#include "posebatch/model.h"

namespace posebatch::bench {

struct CtdCase {
  std::string name;  // for the table
  std::string video;
  int width = 0, height = 0;
  int64_t frames = 0;
  int batch = 8;     // CTD crops per pose batch
  int bu_batch = 1;  // frames per conditions-model batch
  int threads = 1;
  int repeats = 3;
  bool tracking = false;  // CTD tracking (DeepLabCut's defaults): the previous poses are the conditions
};

// Adds one row to `table` (columns: CtdColumns()) and returns nothing; throws Error.
//  * pipeline fps: RunPipeline with the BU model as the conditions model (async, batched);
//  * sequential fps: one thread, frame by frame: decode, the BU model at batch 1 and its
//    postprocessor, DeepLabCut's CTD crops, the CTD model on that frame's crops, SimCC,
//    rescoring, the row written: what DeepLabCut's CTDInferenceRunner does;
//  * engine fps: 1 / (BU forward + postprocess per frame at the BU batch + crops per frame x
//    CTD forward per crop at the pose batch), each timed alone on the inference thread.
// Tracking: the pipeline tracks; sequential is DeepLabCut's tracking runner (the same stages and
// tracker in one thread, the BU model only on the frames the tracker asks for it); engine fps
// counts the BU model on that share of frames (at batch 1, as tracking runs it).
void RunCtdCase(Model& ctd, Model& bottom_up, const CtdCase& c, const std::filesystem::path& tmp, Table* table);
std::vector<std::string> CtdColumns();

}  // namespace posebatch::bench
