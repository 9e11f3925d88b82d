// posebatch-bench: engine-only fps vs pipeline fps on one model and video, in one run.
//
//   posebatch-bench MODEL VIDEO [-b 1,8] [-t 0] [-r 3] [--workers 1]
//
// engine-only: Network::Forward on a ready-made batch of the video's size, repeated (the
// ceiling). pipeline: the real thing, decode -> ... -> postprocess, writing to a null sink.
// Prints a markdown table (median of repeats, min-max spread).
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <thread>

#include "common/stopwatch.h"
#include "posebatch/pipeline.h"

using namespace posebatch;

namespace {

class NullWriter : public PoseWriter {
 public:
  void Append(int64_t, const std::string&, const float*) override {}
  void Commit() override {}
  void Abort() noexcept override {}
  const std::string& final_path() const override { return path_; }

 private:
  std::string path_ = "null";
};

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

struct Stat {
  double median, lo, hi;
};

Stat Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine-only vs pipeline throughput"};
  std::string model_path, video, batches = "1,8", config;
  int threads = 0, repeats = 3, workers = 1, frames = 0, niceness = 10;
  app.add_option("model", model_path)->required();
  app.add_option("video", video)->required();
  app.add_option("-b,--batch-sizes", batches, "comma list");
  app.add_option("-t,--threads", threads, "inference threads (0 = all cores)");
  app.add_option("-r,--repeats", repeats);
  app.add_option("--workers", workers);
  app.add_option("--frames", frames, "analyse only the first N frames (0 = all)");
  app.add_option("--config", config);
  app.add_option("--nice", niceness, "niceness of decode/preprocess threads");
  CLI11_PARSE(app, argc, argv);
  TuneAllocatorForInference();

  const int nthreads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  try {
    Model model = LoadModel(model_path, MakeLoadOptions(config, "cpu", ""));
    DecodeOptions dec;
    if (frames > 0) dec.stop_frame = frames;
    auto probe = OpenVideo(video, dec);
    const int w = probe->info().width, h = probe->info().height;
    int64_t nframes = 0;
    {
      Frame f;
      while (probe->Next(&f)) ++nframes;
    }
    std::printf("model: %s | video: %s (%dx%d, %lld frames) | inference threads %d | workers %d | repeats %d\n\n",
                model.network->Describe().c_str(), video.c_str(), w, h, static_cast<long long>(nframes), nthreads,
                workers, repeats);
    std::printf("| batch | engine-only fps | pipeline fps | efficiency | decode s | preprocess s | infer wait s | infer s | post s |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int b : ParseList(batches)) {
      // Engine-only: forward passes on a ready batch, same number of frames as the video.
      at::set_num_threads(nthreads);
      at::Tensor batch = at::randn({b, 3, h, w});
      {
        c10::InferenceMode guard;
        model.network->Forward(batch);  // warm-up
      }
      std::vector<double> engine, pipe;
      RunStats last{};
      for (int r = 0; r < repeats; ++r) {
        // On its own thread, as the pipeline's inference stage runs (OpenMP teams are per thread).
        double engine_seconds = 0;
        std::thread engine_thread([&] {
          at::set_num_threads(nthreads);
          {
            c10::InferenceMode guard;
            model.network->Forward(batch);  // per-thread warm-up (OpenMP team, oneDNN caches)
          }
          Stopwatch sw;
          int64_t done = 0;
          c10::InferenceMode guard;
          while (done < nframes) {
            int64_t n = std::min<int64_t>(b, nframes - done);
            model.network->Forward(n == b ? batch : batch.narrow(0, 0, n));
            done += n;
          }
          engine_seconds = sw.Seconds();
        });
        engine_thread.join();
        engine.push_back(nframes / engine_seconds);

        auto src = OpenVideo(video, dec);
        NullWriter sink;
        PipelineOptions opt;
        opt.batch_size = b;
        opt.intra_op_threads = nthreads;
        opt.preprocess_workers = workers;
        opt.feeder_niceness = niceness;
        RunStats stats;
        Status st = RunPipeline(model, *src, sink, opt, PreprocessOptions{}, RunContext{}, &stats);
        if (!st.ok()) {
          std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
          return 1;
        }
        pipe.push_back(stats.frames / stats.wall_seconds);
        last = stats;
      }
      Stat e = Summarize(engine), p = Summarize(pipe);
      std::printf("| %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.3f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", b, e.median,
                  e.lo, e.hi, p.median, p.lo, p.hi, p.median / e.median, last.busy.decode, last.busy.preprocess,
                  last.busy.inference_wait, last.busy.inference, last.busy.postprocess);
      std::fflush(stdout);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
