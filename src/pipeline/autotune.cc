// ChooseBatchSize: the fastest batch size for this model, input size and machine, measured.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <thread>

#include "common/stopwatch.h"
#include "posebatch/pipeline.h"

namespace posebatch {

int ChooseBatchSize(Model& model, int width, int height, const std::vector<int>& candidates, int intra_op_threads,
                    std::string* report) {
  if (candidates.empty()) throw Error(Status::InvalidArgument("no candidate batch sizes"));
  int best = candidates.front();
  double best_fps = -1;
  std::string text;
  std::thread worker([&] {
    try {
      at::set_num_threads(intra_op_threads > 0 ? intra_op_threads
                                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
      c10::InferenceMode guard;
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
    } catch (...) {
      best_fps = -2;
      text = StatusFromCurrentException(StatusCode::kModelError).message();
    }
  });
  worker.join();
  if (best_fps == -2) throw Error(Status::ModelError("choosing the batch size: " + text));
  if (report != nullptr) *report = text;
  return best;
}

}  // namespace posebatch
