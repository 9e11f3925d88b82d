// ChooseBatchSize: the fastest batch size for this model, input size and machine, measured.
#include <ATen/ATen.h>

#include <cstdio>

#include "common/stopwatch.h"
#include "pipeline/kit/inference_thread.h"
#include "posebatch/pipeline.h"

namespace posebatch {

int ChooseBatchSize(Model& model, int width, int height, const std::vector<int>& candidates, int intra_op_threads,
                    std::string* report) {
  if (candidates.empty()) throw Error(Status::InvalidArgument("no candidate batch sizes"));
  int best = candidates.front();
  double best_fps = -1;
  std::string text;
  try {
    // On the inference thread, with the pipeline's thread count: the conditions it will run in.
    InferenceThread::Get().Run(intra_op_threads, [&] {
      // Zeros are no frame to measure: an int8 network not yet calibrated times in float32 here
      // (the ratios between batch sizes are what count) and calibrates on the first real frame.
      ScopedSyntheticInput synthetic;
      for (int b : candidates) {
        at::Tensor input = at::zeros({b, 3, height, width});
        if (model.network->input_layout() == InputLayout::kNHWC) {
          input = input.contiguous(at::MemoryFormat::ChannelsLast);
        }
        model.network->Forward(input);  // warm-up: allocations, kernel selection
        Stopwatch sw;
        model.network->Forward(input);
        const double fps = b / sw.Seconds();
        char line[64];
        std::snprintf(line, sizeof line, "%s%d: %.2f fps", text.empty() ? "" : ", ", b, fps);
        text += line;
        if (fps > best_fps) best_fps = fps, best = b;
      }
    });
  } catch (...) {
    throw Error(Status::ModelError("choosing the batch size: " +
                                   StatusFromCurrentException(StatusCode::kModelError).message()));
  }
  if (report != nullptr) *report = text;
  return best;
}

}  // namespace posebatch
