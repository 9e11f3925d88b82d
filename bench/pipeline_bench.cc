// posebatch-bench: how fast posebatch runs a model, against the model's own speed, in one run.
//
//   posebatch-bench -m MODEL[,MODEL...] -v VIDEO [-s native,320x240] [-b 1,8,32] [-t 2]
//                   [-w 1,2] [-r 3] [--frames 60] [--post-workers 1] [--assembly 1,...,256]
//                   [--rss] [--python] [--conditions-model BU_MODEL] [--labeled-video] [-o md|csv|json]
//
// For every combination of model, input size, batch size, inference threads and preprocess
// workers it measures, interleaved in the same run:
//  * engine-only fps: Network::Forward on ready-made batches (the ceiling);
//  * pipeline fps: the real video decoded, preprocessed into batch slots, inferred,
//    postprocessed and written to a real .h5 (then discarded);
//  * efficiency = pipeline / engine-only, and per-stage busy time per frame;
//  * multi-animal PAF models: the grouping alone per frame on the network's real outputs.
// Then, on request: the batch-assembly cost per frame across batch sizes (writing frames into
// preallocated slots), peak RSS for a short and a 10x longer run (child processes), and the
// Python reference (bench/python_reference.py: DeepLabCut's runner re-created) on the same
// model and video, with posebatch's speed-up over it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "../tools/posebatch/option_binding.h"  // analyze's model options on the bench's CLI
#include "bench_util.h"
#include "common/stopwatch.h"
#include "ctd_bench.h"
#include "model/device.h"
#include "model/native/int8_conv.h"
#include "model/native/layers.h"
#include "pipeline/kit/inference_thread.h"
#include "pipeline/kit/slot_pool.h"
#include "pipeline/kit/stage_threads.h"
#include "posebatch/detector.h"
#include "posebatch/option_table.h"
#include "posebatch/pipeline.h"
#include "posebatch/predictor.h"
#include "predict/paf_internal.h"
#include "preprocess/normalize.h"
#include "preprocess/topdown_crop.h"
#include "viz/labeling_writer.h"

namespace fs = std::filesystem;
using namespace posebatch;
using namespace posebatch::bench;

namespace {

struct Options {
  std::vector<std::string> models, sizes{"native"};
  std::string video, format = "md", python_ref, self;
  std::string conditions_model;  // CTD models: the bottom-up model whose poses are the conditions
  std::vector<int> batches{1, 8}, threads, workers{1}, assembly;
  int repeats = 3, frames = 60, rss_frames = 0, detector_batch = 1, post_workers = 1;
  bool rss = false, python = false;
  ModelLoadOptions model;      // channels_last and precision of native networks (analyze's flags), cpu
  bool ctd_tracking = false;   // CTD models: also the tracking mode
  bool labeled_video = false;  // bottom-up models: pipeline fps without and with --labeled-video
};

struct Video {
  std::string label, path;
  int width = 0, height = 0;
  int64_t frames = 0;
  bool native = true;
};

int AllCores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int64_t CountFrames(const std::string& path, int64_t limit, int* w, int* h) {
  DecodeOptions d;
  d.stop_frame = limit;
  auto src = OpenVideo(path, d);
  *w = src->info().width;
  *h = src->info().height;
  Frame f;
  int64_t n = 0;
  while (src->Next(&f)) ++n;
  return n;
}

// The input at each requested size: the video itself, or its first frames re-encoded at WxH
// by the ffmpeg CLI (so that every size is a real decode of a real H.264 file).
std::vector<Video> PrepareVideos(const Options& o, const fs::path& tmp) {
  std::vector<Video> out;
  for (const auto& s : o.sizes) {
    Video v;
    v.label = s;
    if (s == "native") {
      v.path = o.video;
    } else {
      int w = 0, h = 0;
      if (std::sscanf(s.c_str(), "%dx%d", &w, &h) != 2 || w <= 0 || h <= 0) {
        throw Error(Status::InvalidArgument("--sizes expects native or WxH, got '" + s + "'"));
      }
      v.native = false;
      v.path = (tmp / ("video_" + s + ".mp4")).string();
      std::string log;
      int rc = RunChild({"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", o.video, "-frames:v",
                         std::to_string(o.frames), "-vf", "scale=" + std::to_string(w) + ":" + std::to_string(h),
                         "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", v.path},
                        &log, nullptr);
      if (rc != 0) throw Error(Status::IOError("ffmpeg could not scale " + o.video + " to " + s));
    }
    v.frames = CountFrames(v.path, o.frames, &v.width, &v.height);
    if (v.frames == 0) throw Error(Status::Corrupt(v.path + ": no frames decoded"));
    out.push_back(v);
  }
  return out;
}

// Forward passes over `frames` frames in batches of `batch`, on the process's inference thread
// (where the pipeline runs its forwards). Returns fps.
double EngineOnly(Model& model, const Video& v, int batch, int threads) {
  double seconds = 0;
  InferenceThread::Get().Run(threads, [&] {
    // Noise must not calibrate an int8 network: the pipeline warm-up before this ran real frames.
    const ScopedSyntheticInput synthetic;
    at::Tensor input = at::randn({batch, 3, v.height, v.width});
    if (model.network->input_layout() == InputLayout::kNHWC) input = input.contiguous(at::MemoryFormat::ChannelsLast);
    model.network->Forward(input);  // warm-up
    Stopwatch sw;
    for (int64_t done = 0; done < v.frames;) {
      const int64_t n = std::min<int64_t>(batch, v.frames - done);
      model.network->Forward(n == batch ? input : input.narrow(0, 0, n));
      done += n;
    }
    seconds = sw.Seconds();
  });
  return v.frames / seconds;
}

// FLOPs of one frame's forward (2 x the multiply-adds of every convolution and transposed
// convolution the network runs, counted as it runs them), on the inference thread.
double ForwardFlopsPerFrame(Model& model, const Video& v, int threads) {
  double flops = 0;
  InferenceThread::Get().Run(threads, [&] {
    at::Tensor input = at::randn({1, 3, v.height, v.width});
    if (model.network->input_layout() == InputLayout::kNHWC) input = input.contiguous(at::MemoryFormat::ChannelsLast);
    const ScopedSyntheticInput synthetic;  // noise must not calibrate an int8 network
    native::ScopedFlopCount count;
    model.network->Forward(input);
    flops = count.flops();
  });
  return flops;
}

// The machine's measured peak through the same oneDNN the networks use: a large 1x1 convolution
// (a 1024 x 1024 x 16384 GEMM, NHWC) in `dtype`, best of 5, GFLOP/s. Zero where oneDNN has no
// kernel for `dtype` here (bfloat16 without AVX512-BF16 / AMX).
// `precision`: "float32", "bf16" or "int8" (the int8 convolution alone, on quantized input, as
// the network's int8 layers run it; their conversions count as the network's overhead).
double PeakGflops(const std::string& precision, int threads) {
  if (precision == "bf16" && !CpuSupportsBFloat16()) return 0;
  if (precision == "int8" && (!CpuSupportsInt8() || !QuantizedOneDnnAvailable())) return 0;
  const at::ScalarType dtype = precision == "bf16" ? at::kBFloat16 : at::kFloat;
  double best = 0;
  InferenceThread::Get().Run(threads, [&] {
    const int64_t c = 1024, hw = 128;
    at::Tensor x = at::randn({1, c, hw, hw}).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
    auto w = std::make_shared<at::Tensor>(at::randn({c, c, 1, 1}).to(dtype).contiguous(at::MemoryFormat::ChannelsLast));
    native::Int8Convolution int8(w, nullptr, 1, 0, 1, 1);
    at::Tensor qx;
    if (precision == "int8") {
      int8.Observe(x, at::mkldnn_convolution(x, *w, c10::nullopt, {0, 0}, {1, 1}, {1, 1}, 1));
      int8.Freeze();
      qx = int8.Quantize(x);
    }
    for (int r = 0; r < 6; ++r) {
      Stopwatch sw;
      if (qx.defined()) {
        int8.Convolve(qx);
      } else {
        at::mkldnn_convolution(x, *w, c10::nullopt, {0, 0}, {1, 1}, {1, 1}, 1);
      }
      if (r > 0) best = std::max(best, 2.0 * c * c * hw * hw / sw.Seconds() / 1e9);  // first: warm-up
    }
  });
  return best;
}

// Top-down engine-only fps: the detector's forward per frame (batches of `det_batch` frames at
// the video's size) plus `crops_per_frame` pose forwards per frame (batches of `batch` crops at
// the crop size), each timed alone on the inference thread.
double TopDownEngineOnly(Model& model, const Video& v, int det_batch, int batch, int threads, double crops_per_frame,
                         int crop_w, int crop_h) {
  double det_s = 0, pose_s = 0;
  const int reps = 3;
  // Real frames: a detector's cost depends on what it sees (Faster R-CNN's box head runs on
  // every proposal that survives the RPN, far more on real images than on noise).
  at::Tensor frames = at::empty({det_batch, 3, v.height, v.width});
  {
    auto src = OpenVideo(v.path, DecodeOptions{});
    const Normalizer normalizer(model.detector->spec().input);
    Frame f;
    for (int i = 0; i < det_batch && src->Next(&f); ++i) {
      const InputGeometry g =
          ComputeGeometry(f.width, f.height, PreprocessOptions{}, model.detector->spec().input, v.path);
      normalizer.Write(f, g, frames[i].data_ptr<float>());
    }
  }
  InferenceThread::Get().Run(threads, [&] {
    model.detector->Detect(frames);  // warm-up
    Stopwatch sw;
    for (int r = 0; r < reps; ++r) model.detector->Detect(frames);
    det_s = sw.Seconds() / (reps * det_batch);
    const ScopedSyntheticInput synthetic;  // as in EngineOnly
    at::Tensor crops = at::randn({batch, 3, crop_h, crop_w});
    if (model.network->input_layout() == InputLayout::kNHWC) crops = crops.contiguous(at::MemoryFormat::ChannelsLast);
    model.network->Forward(crops);
    sw.Reset();
    for (int r = 0; r < reps; ++r) model.network->Forward(crops);
    pose_s = sw.Seconds() / (reps * batch);
  });
  return 1.0 / (det_s + crops_per_frame * pose_s);
}

// The whole pipeline, writing a real .h5 that is then discarded. `labeled`: also the labeled
// video, as analyze --labeled-video makes it (frames stashed at decode, drawn and encoded by the
// writer stage); its encoder's final flush is timed too (wall_seconds then includes Commit).
RunStats Pipeline(Model& model, const Video& v, int64_t frames, int batch, int threads, int workers,
                  const fs::path& tmp, int det_batch = 1, int post_workers = 1, bool labeled = false) {
  DecodeOptions d;
  d.stop_frame = frames;
  auto src = OpenVideo(v.path, d);
  std::vector<std::unique_ptr<PoseWriter>> writers;
  writers.push_back(CreateH5Writer((tmp / "bench.h5").string(), LayoutFor(model, "bench", false), H5WriterOptions{}));
  FrameSource* input = src.get();
  std::unique_ptr<FrameSource> tee;
  if (labeled) {
    viz::LabeledPass pass =
        viz::AddLabeledPass(*src, (tmp / "bench_labeled.mp4").string(), LayoutFor(model, "bench", false),
                            LabeledVideoOptions{}, model.spec.config_text, Crop{}, nullptr);
    tee = std::move(pass.source);
    input = tee.get();
    writers.push_back(std::move(pass.writer));
  }
  auto writer = CreateFanOutWriter(std::move(writers));
  Stopwatch wall;
  PipelineOptions opt;
  opt.batch_size = batch;
  opt.intra_op_threads = threads;
  opt.preprocess_workers = workers;
  opt.detector_batch_size = det_batch;
  opt.postprocess_workers = post_workers;
  RunStats stats;
  Status st = RunPipeline(model, *input, *writer, opt, PreprocessOptions{}, RunContext{}, &stats);
  if (st.ok()) {
    writer->Commit();  // the same for both modes: the .h5's flush, the mp4's last frames
    stats.wall_seconds = wall.Seconds();
    std::error_code ec;
    fs::remove(tmp / "bench.h5", ec);
    fs::remove(tmp / "bench_labeled.mp4", ec);
  } else {
    writer->Abort();
  }
  ThrowIfError(st);
  return stats;
}

// Multi-animal PAF models: the grouping alone (PredictPafPoses: peaks, PAF affinities,
// assembly) on the network's outputs for the video's first frames, on one thread as a
// postprocess worker runs it, with the candidate peaks and animals it finds.
struct Grouping {
  Stat ms;  // per frame
  double peaks_per_bodypart = 0, animals = 0;
  int64_t frames = 0;
};

Grouping PafGrouping(Model& model, const Video& v, int64_t max_frames, int repeats, int threads) {
  const PafPredictorSpec& spec = model.spec.paf;
  DecodeOptions d;
  d.stop_frame = max_frames;
  auto src = OpenVideo(v.path, d);
  const Normalizer normalizer(model.spec.input);
  std::vector<std::array<at::Tensor, 3>> outputs;
  InferenceThread::Get().Run(threads, [&] {
    c10::InferenceMode guard;
    Frame f;
    while (src->Next(&f)) {
      const InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, model.spec.input, v.path);
      at::Tensor input = at::empty({1, 3, g.height, g.width});
      normalizer.Write(f, g, input.data_ptr<float>());
      if (model.network->input_layout() == InputLayout::kNHWC) input = input.contiguous(at::MemoryFormat::ChannelsLast);
      HeadOutputs out = model.network->Forward(input);
      const auto& head = out.at(spec.name);
      outputs.push_back({head.at("heatmap"), head.at("locref"), head.at("paf")});
    }
  });
  Grouping g;
  g.frames = static_cast<int64_t>(outputs.size());
  std::vector<double> ms;
  std::thread worker([&] {
    UseOneIntraOpThread();
    c10::InferenceMode guard;
    int64_t peaks = 0, animals = 0;
    for (const auto& o : outputs) {
      peaks += CountPafPeaks(o[0], spec);
      const at::Tensor poses = PredictPafPoses(o[0], o[1], o[2], spec);  // warm-up
      animals += poses.select(3, 0).ne(-1).any(2).sum().item<int64_t>();
    }
    g.peaks_per_bodypart = static_cast<double>(peaks) / std::max<int64_t>(1, g.frames * spec.num_keypoints);
    g.animals = static_cast<double>(animals) / std::max<int64_t>(1, g.frames);
    for (int r = 0; r < repeats; ++r) {
      Stopwatch sw;
      for (const auto& o : outputs) PredictPafPoses(o[0], o[1], o[2], spec);
      ms.push_back(sw.Seconds() * 1e3 / std::max<int64_t>(1, g.frames));
    }
  });
  worker.join();
  g.ms = Summarize(ms);
  return g;
}

// Cost per frame of putting decoded frames into batch slots (normalize + write into the
// preallocated row), by batch size. No inference: this is what batching itself costs.
double AssemblyNanosPerFrame(const Model& model, const Video& v, int batch) {
  DecodeOptions d;
  d.stop_frame = 1;
  auto src = OpenVideo(v.path, d);
  Frame frame;
  src->Next(&frame);
  const InputGeometry g = ComputeGeometry(frame.width, frame.height, PreprocessOptions{}, model.spec.input, v.path);
  Normalizer norm(model.spec.input);
  const int kSlots = 2;
  SlotPool pool(kSlots, batch, model.network->input_layout());
  const int64_t min_frames = 1024;
  const int64_t cycles = std::max<int64_t>(2, min_frames / batch);
  Stopwatch sw;
  for (int64_t b = 0; b < cycles + kSlots; ++b) {
    if (b == kSlots) sw = Stopwatch();  // the first use of each slot allocates (and faults in) it
    BatchSlot* slot = pool.Acquire(b, g);
    for (int r = 0; r < batch; ++r) {
      int row = pool.AssignRow(slot, RowRecord{r, "", g});
      norm.Write(frame, g, slot->RowData(row), slot->layout);
      pool.RowFilled(slot);
    }
    pool.Close(slot);
    BatchSlot* ready = pool.WaitReady(b);
    at::Tensor input = ready->Input();  // what inference would get: a view, no copy
    if (input.size(0) != batch) throw Error(Status::Internal("slot view has the wrong batch"));
    pool.Release(ready);
  }
  return sw.Seconds() * 1e9 / static_cast<double>(cycles * batch);
}

std::string Ms(double seconds, int64_t frames) { return Fmt("%.1f", 1e3 * seconds / std::max<int64_t>(1, frames)); }

// Parses python_reference.py's "| batch | fps |" rows.
std::map<int, double> ParseReference(const std::string& out) {
  std::map<int, double> fps;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) {
    int b;
    double f;
    if (std::sscanf(line.c_str(), "| %d | %lf |", &b, &f) == 2) fps[b] = f;
  }
  return fps;
}

// This process's own peak resident memory (VmHWM). Not wait4's ru_maxrss: posix_spawn starts
// the child in the parent's address space, and Linux carries that address space's high-water
// mark across exec, so ru_maxrss reported the bench process's own peak (GBs of benchmark
// batches), not the child's.
long OwnPeakRssKb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb;
}

int RssChild(const std::string& model_path, const std::string& video, int64_t frames, int batch, int threads) {
  TuneAllocatorForInference();
  Model model = LoadModel(model_path, ModelLoadOptions{});
  Video v{"native", video, 0, 0, frames, true};
  v.frames = CountFrames(video, frames, &v.width, &v.height);
  fs::path tmp = fs::temp_directory_path() / ("posebatch-rss-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  RunStats s = Pipeline(model, v, frames, batch, threads, 1, tmp);
  fs::remove_all(tmp);
  std::printf("frames %lld\npeak_kb %ld\n", static_cast<long long>(s.frames), OwnPeakRssKb());
  return 0;
}

int Run(const Options& o) {
  TuneAllocatorForInference();
  const std::vector<int> threads = o.threads.empty() ? std::vector<int>{AllCores()} : o.threads;
  fs::path tmp = fs::temp_directory_path() / ("posebatch-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  std::vector<Video> videos = PrepareVideos(o, tmp);

  std::printf("posebatch-bench | commit %s | %s | LibTorch %s | %d repeats, medians (min-max)\n",
              SourceCommit().c_str(), CpuDescription().c_str(), TORCH_VERSION, o.repeats);
  std::printf("video %s (%dx%d), %lld frames per run\n\n", o.video.c_str(), videos[0].width, videos[0].height,
              static_cast<long long>(videos[0].frames));

  Table main({"model", "size", "batch", "threads", "workers", "engine fps", "pipeline fps", "efficiency", "decode ms/f",
              "preprocess ms/f", "infer ms/f", "infer idle ms/f", "post ms/f", "write ms/f"});
  std::map<std::string, double> pipeline_fps;  // model|batch|threads at native size, first worker count
  std::vector<std::pair<std::string, Model>> models;
  for (const auto& path : o.models) {
    Stopwatch load;
    models.emplace_back(path, LoadModel(path, o.model));
    std::fprintf(stderr, "loaded %s in %.2f s: %s\n", path.c_str(), load.Seconds(),
                 models.back().second.network->Describe().c_str());
  }
  Table grouping({"model", "size", "frames", "peaks/bodypart", "animals/frame", "grouping ms/frame"});
  // Achieved GFLOP/s of the forward against the machine's measured peak in the same precision.
  Table compute({"model", "size", "precision", "batch", "threads", "GFLOP/frame", "engine fps", "GFLOP/s",
                 "peak GFLOP/s", "of peak"});
  std::map<std::string, double> peak_gflops;      // precision|threads
  std::map<std::string, double> gflop_per_frame;  // model|video: batch and threads do not change it
  Table td({"model", "size", "detector batch", "pose batch", "threads", "crops/frame", "engine fps", "pipeline fps",
            "efficiency", "crops/s", "decode ms/f", "infer ms/f", "infer idle ms/f", "crop ms/f", "write ms/f"});
  Table ctd(CtdColumns());
  Table labeled({"model", "size", "batch", "threads", "frames", "pipeline fps", "with labeled video fps", "ratio",
                 "cost", "write ms/f", "write+label ms/f"});
  Model bottom_up;
  if (!o.conditions_model.empty()) bottom_up = LoadModel(o.conditions_model, ForSecondModel(o.model));
  for (auto& [path, model] : models) {
    const std::string name = fs::path(path).filename().string();
    if (model.spec.method == Method::kConditionalTopDown) {  // BU conditions model + CTD pose on crops, one decode pass
      if (bottom_up.network == nullptr)
        throw Error(Status::InvalidArgument(path + ": a CTD model needs --conditions-model"));
      for (const Video& v : videos) {
        for (int t : threads) {
          for (int b : o.batches) {
            CtdCase c;
            c.name = fs::path(o.conditions_model).filename().string() + " + " + name;
            c.video = v.path;
            c.width = v.width;
            c.height = v.height;
            c.frames = v.frames;
            c.batch = b;
            c.bu_batch = o.detector_batch;
            c.threads = t;
            c.repeats = o.repeats;
            RunCtdCase(model, bottom_up, c, tmp, &ctd);
            if (o.ctd_tracking) {
              c.tracking = true;
              c.bu_batch = 1;  // tracking runs the BU model on one frame at a time
              RunCtdCase(model, bottom_up, c, tmp, &ctd);
            }
          }
        }
      }
      continue;
    }
    if (model.detector) {  // top-down: detector stage + pose on crops, one decode pass
      for (const Video& v : videos) {
        for (int t : threads) {
          for (int b : o.batches) {
            const int db = o.detector_batch;
            Pipeline(model, v, std::min<int64_t>(v.frames, 4), b, t, 1, tmp, db);  // warm-up
            std::vector<double> engine, pipe;
            RunStats last;
            for (int r = 0; r < o.repeats; ++r) {
              last = Pipeline(model, v, v.frames, b, t, 1, tmp, db);
              pipe.push_back(last.frames / last.wall_seconds);
              const double cpf = static_cast<double>(last.crops) / std::max<int64_t>(1, last.frames);
              const TopDownCropSpec& crop = model.spec.crop;
              engine.push_back(TopDownEngineOnly(model, v, db, b, t, cpf, crop.width, crop.height));
            }
            const Stat e = Summarize(engine), p = Summarize(pipe);
            const auto& s = last.busy;
            const double cpf = static_cast<double>(last.crops) / std::max<int64_t>(1, last.frames);
            td.AddRow({name, std::to_string(v.width) + "x" + std::to_string(v.height), std::to_string(db),
                       std::to_string(b), std::to_string(t), Fmt("%.2f", cpf), FmtStat(e, "%.2f"), FmtStat(p, "%.2f"),
                       Fmt("%.3f", p.median / e.median), Fmt("%.2f", p.median * cpf), Ms(s.decode, last.frames),
                       Ms(s.inference, last.frames), Ms(s.inference_wait, last.frames), Ms(s.preprocess, last.frames),
                       Ms(s.write, last.frames)});
            std::fprintf(stderr, "%s (top-down) b=%d db=%d t=%d: engine %.2f, pipeline %.2f fps\n", name.c_str(), b, db,
                         t, e.median, p.median);
          }
        }
      }
      continue;
    }
    if (model.spec.predictor == PredictorType::kPartAffinityField) {
      for (const Video& v : videos) {
        const Grouping g = PafGrouping(model, v, std::min<int64_t>(v.frames, 16), o.repeats, threads.front());
        grouping.AddRow({name, std::to_string(v.width) + "x" + std::to_string(v.height), std::to_string(g.frames),
                         Fmt("%.1f", g.peaks_per_bodypart), Fmt("%.2f", g.animals), FmtStat(g.ms, "%.2f")});
        std::fprintf(stderr, "%s grouping: %.2f ms/frame, %.1f peaks per bodypart\n", name.c_str(), g.ms.median,
                     g.peaks_per_bodypart);
      }
    }
    if (o.labeled_video) {  // analyze --labeled-video: its cost, interleaved with plain runs
      for (const Video& v : videos) {
        for (int t : threads) {
          for (int b : o.batches) {
            Pipeline(model, v, std::min<int64_t>(v.frames, 2 * b), b, t, 1, tmp, 1, o.post_workers, true);  // warm-up
            std::vector<double> plain, with;
            RunStats p_last, l_last;
            for (int r = 0; r < o.repeats; ++r) {
              p_last = Pipeline(model, v, v.frames, b, t, 1, tmp, 1, o.post_workers, false);
              plain.push_back(p_last.frames / p_last.wall_seconds);
              l_last = Pipeline(model, v, v.frames, b, t, 1, tmp, 1, o.post_workers, true);
              with.push_back(l_last.frames / l_last.wall_seconds);
            }
            const Stat p = Summarize(plain), l = Summarize(with);
            labeled.AddRow({name, std::to_string(v.width) + "x" + std::to_string(v.height), std::to_string(b),
                            std::to_string(t), std::to_string(v.frames), FmtStat(p, "%.2f"), FmtStat(l, "%.2f"),
                            Fmt("%.3f", l.median / p.median), Fmt("%.1f%%", 100 * (1 - l.median / p.median)),
                            Ms(p_last.busy.write, p_last.frames), Ms(l_last.busy.write, l_last.frames)});
            std::fprintf(stderr, "%s b=%d t=%d: pipeline %.2f fps, with labeled video %.2f fps (%.3f)\n", name.c_str(),
                         b, t, p.median, l.median, l.median / p.median);
          }
        }
      }
      continue;
    }
    for (const Video& v : videos) {
      for (int t : threads) {
        for (int w : o.workers) {
          for (int b : o.batches) {
            Pipeline(model, v, std::min<int64_t>(v.frames, 2 * b), b, t, w, tmp, 1, o.post_workers);  // warm-up
            std::vector<double> engine, pipe;
            RunStats last;
            for (int r = 0; r < o.repeats; ++r) {
              engine.push_back(EngineOnly(model, v, b, t));
              last = Pipeline(model, v, v.frames, b, t, w, tmp, 1, o.post_workers);
              pipe.push_back(last.frames / last.wall_seconds);
            }
            const Stat e = Summarize(engine), p = Summarize(pipe);
            const auto& s = last.busy;
            main.AddRow({name, v.label == "native" ? std::to_string(v.width) + "x" + std::to_string(v.height) : v.label,
                         std::to_string(b), std::to_string(t), std::to_string(w), FmtStat(e, "%.2f"),
                         FmtStat(p, "%.2f"), Fmt("%.3f", p.median / e.median), Ms(s.decode, last.frames),
                         Ms(s.preprocess, last.frames), Ms(s.inference, last.frames), Ms(s.inference_wait, last.frames),
                         Ms(s.postprocess, last.frames), Ms(s.write, last.frames)});
            if (v.native && w == o.workers.front()) {
              pipeline_fps[path + "|" + std::to_string(b) + "|" + std::to_string(t)] = p.median;
              const std::string precision = model.network->precision();
              const std::string key = precision + "|" + std::to_string(t);
              if (!peak_gflops.count(key)) peak_gflops[key] = PeakGflops(precision, t);
              const std::string work = path + "|" + v.path;
              if (!gflop_per_frame.count(work)) gflop_per_frame[work] = ForwardFlopsPerFrame(model, v, t) / 1e9;
              const double gflop = gflop_per_frame[work], achieved = gflop * e.median;
              compute.AddRow({name, std::to_string(v.width) + "x" + std::to_string(v.height), precision,
                              std::to_string(b), std::to_string(t), Fmt("%.1f", gflop), Fmt("%.2f", e.median),
                              Fmt("%.0f", achieved), Fmt("%.0f", peak_gflops[key]),
                              Fmt("%.2f", achieved / peak_gflops[key])});
            }
            std::fprintf(stderr, "%s b=%d t=%d w=%d: engine %.2f, pipeline %.2f fps\n", name.c_str(), b, t, w, e.median,
                         p.median);
          }
        }
      }
    }
  }
  if (!main.empty()) std::printf("%s\n", main.Render(o.format).c_str());
  if (!labeled.empty()) {
    std::printf(
        "Labeled video (analyze --labeled-video: frames stashed at decode, drawn with cairo and encoded with "
        "libx264 on the writer stage), interleaved with plain runs, %d repeats:\n\n%s\n",
        o.repeats, labeled.Render(o.format).c_str());
  }
  if (!compute.empty()) {
    std::printf(
        "Compute (FLOPs counted from the network's convolutions as they run; peak = a 1024x1024x16384 "
        "GEMM as a 1x1 convolution through the same oneDNN, best of 5):\n\n%s\n",
        compute.Render(o.format).c_str());
  }
  if (!grouping.empty()) {
    std::printf(
        "Multi-animal grouping alone (PartAffinityFieldPredictor: peaks, PAF affinities, assembly) on the "
        "network's outputs for the first frames, one thread, %d repeats:\n\n%s\n",
        o.repeats, grouping.Render(o.format).c_str());
  }
  if (!td.empty()) {
    std::printf(
        "Top-down (one decode pass: detector on frames, pose on 256x256 crops batched across frames; "
        "engine = detector forward per frame + crops/frame x pose forward per crop; the crop column is the "
        "crop stage and detector preprocessing):\n\n%s\n",
        td.Render(o.format).c_str());
  }

  if (!ctd.empty()) {
    std::printf(
        "Conditional top-down (bottom-up conditions model on frames, CTD on 256x256 crops batched across "
        "frames; sequential = every stage of a frame in turn, the BU model at batch 1 and the CTD model on "
        "the frame's crops, as DeepLabCut's CTDInferenceRunner; engine = BU forward + postprocess per frame "
        "+ crops/frame x CTD forward per crop):\n\n%s\n",
        ctd.Render(o.format).c_str());
  }

  if (!o.assembly.empty()) {
    Table asm_table({"model", "size", "batch", "assembly ns/frame", "vs batch 1"});
    for (auto& [path, model] : models) {
      double base = 0;
      for (int b : o.assembly) {
        std::vector<double> ns;
        for (int r = 0; r < o.repeats; ++r) ns.push_back(AssemblyNanosPerFrame(model, videos[0], b));
        const Stat s = Summarize(ns);
        if (base == 0) base = s.median;
        asm_table.AddRow({fs::path(path).filename().string(),
                          std::to_string(videos[0].width) + "x" + std::to_string(videos[0].height), std::to_string(b),
                          FmtStat(s, "%.0f"), Fmt("%.3f", s.median / base)});
      }
    }
    std::printf("Batch assembly (normalize + write into a preallocated slot row, per frame):\n\n%s\n",
                asm_table.Render(o.format).c_str());
  }

  if (o.rss) {
    Table rss({"model", "batch", "frames", "peak RSS MB", "vs short"});
    const int64_t short_frames = o.rss_frames > 0 ? o.rss_frames : std::max<int64_t>(videos[0].frames / 10, 1);
    for (const auto& path : o.models) {
      for (int b : {o.batches.front()}) {  // memory is bounded per batch size: one suffices
        long base = 0;
        for (int64_t n : {short_frames, 10 * short_frames}) {
          long kb = 0;
          std::string out;
          std::vector<std::string> args = {o.self, "--rss-child",     "-m",       path,
                                           "-v",   o.video,           "--frames", std::to_string(n),
                                           "-b",   std::to_string(b), "-t",       std::to_string(threads.front())};
          for (const auto& spec : ModelOptionTable()) {  // the child loads the model as this run does
            const std::string value = spec.get(o.model);
            if (value != spec.get(ModelLoadOptions{})) args.push_back(spec.long_name() + "=" + value);
          }
          int rc = RunChild(args, &out, nullptr);
          if (rc != 0) throw Error(Status::Internal("RSS child failed for " + path));
          long decoded = 0;
          if (std::sscanf(out.c_str(), "frames %ld\npeak_kb %ld", &decoded, &kb) != 2) {
            throw Error(Status::Internal("RSS child printed no peak for " + path));
          }
          if (decoded < n)
            std::fprintf(stderr, "warning: the video has only %ld frames, not %lld\n", decoded,
                         static_cast<long long>(n));
          if (base == 0) base = kb;
          rss.AddRow({fs::path(path).filename().string(), std::to_string(b), std::to_string(decoded),
                      Fmt("%.1f", kb / 1024.0), Fmt("%.3f", static_cast<double>(kb) / base)});
        }
      }
    }
    std::printf("Peak resident memory, a run and a 10x longer run (child processes):\n\n%s\n",
                rss.Render(o.format).c_str());
  }

  if (o.python) {
    Table py({"model", "batch", "threads", "posebatch fps", "python list+stack fps", "speed-up",
              "python per-frame cat fps", "speed-up vs cat"});
    for (const auto& path : o.models) {
      for (int t : threads) {
        std::map<std::string, std::map<int, double>> ref;
        for (const char* variant : {"stack", "cat"}) {
          std::string out;
          std::string list;
          for (int b : o.batches) list += (list.empty() ? "" : ",") + std::to_string(b);
          int rc = RunChild({"/usr/bin/python3", o.python_ref, path, o.video, "--frames", std::to_string(o.frames),
                             "-b", list, "--threads", std::to_string(t), "--variant", variant},
                            &out, nullptr);
          if (rc != 0) throw Error(Status::Internal("python reference failed on " + path));
          ref[variant] = ParseReference(out);
        }
        for (int b : o.batches) {
          const double ours = pipeline_fps[path + "|" + std::to_string(b) + "|" + std::to_string(t)];
          const double s = ref["stack"][b], c = ref["cat"][b];
          py.AddRow({fs::path(path).filename().string(), std::to_string(b), std::to_string(t), Fmt("%.2f", ours),
                     Fmt("%.2f", s), Fmt("%.2fx", ours / s), Fmt("%.2f", c), Fmt("%.2fx", ours / c)});
        }
      }
    }
    std::printf("Against the Python reference (DeepLabCut's runner re-created, same model, video, threads):\n\n%s\n",
                py.Render(o.format).c_str());
  }
  fs::remove_all(tmp);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"posebatch-bench: engine-only vs pipeline throughput, batch assembly, memory, Python reference"};
  Options o;
  std::string models, sizes = "native", batches = "1,8", threads, workers = "1", assembly;
  bool rss_child = false;
  app.add_option("-m,--models", models, "comma list of models (exports, snapshots, TorchScript)")->required();
  app.add_option("-v,--video", o.video, "the video to analyse")->required();
  app.add_option("-s,--sizes", sizes, "comma list of input sizes: native or WxH (re-encoded)")->capture_default_str();
  app.add_option("-b,--batch-sizes", batches, "comma list")->capture_default_str();
  app.add_option("-t,--threads", threads, "comma list of inference threads (default: all cores)");
  app.add_option("-w,--workers", workers, "comma list of preprocess workers")->capture_default_str();
  app.add_option("-r,--repeats", o.repeats, "measured repeats per case")->capture_default_str();
  app.add_option("--detector-batch", o.detector_batch, "top-down models: frames per detector batch")
      ->capture_default_str();
  app.add_option("--post-workers", o.post_workers,
                 "postprocess threads of the pipeline runs (posebatch analyze "
                 "--post-workers)")
      ->capture_default_str();
  app.add_flag("--ctd-tracking", o.ctd_tracking,
               "CTD models: also run the tracking mode (DeepLabCut's defaults) against its sequential runner");
  app.add_option("--conditions-model", o.conditions_model,
                 "CTD models: the bottom-up model whose poses are the conditions (frames per batch: --detector-batch)");
  app.add_option("--frames", o.frames, "frames per run (from the start of the video)")->capture_default_str();
  app.add_option("--assembly", assembly, "comma list of batch sizes for the batch-assembly table (e.g. 1,8,64,256)");
  app.add_flag("--rss", o.rss, "peak RSS of a run and of a 10x longer run");
  app.add_option("--rss-frames", o.rss_frames, "frames of the short RSS run (default: frames/10)");
  app.add_flag("--python", o.python, "also run bench/python_reference.py on each model");
  app.add_flag("--labeled-video", o.labeled_video,
               "bottom-up models: pipeline fps without and with analyze --labeled-video (instead of the main table)");
  posebatch::cli::AddTableOptions(&app, ModelOptionTable(), o.model);  // analyze's model options, for every model
  app.add_option("-o,--output", o.format, "md, csv or json")->check(CLI::IsMember({"md", "csv", "json"}));
  app.add_flag("--rss-child", rss_child)->group("");  // internal: one measured run
  CLI11_PARSE(app, argc, argv);
  try {
    o.models = ParseStringList(models);
    o.sizes = ParseStringList(sizes);
    o.batches = ParseIntList(batches);
    if (!threads.empty()) o.threads = ParseIntList(threads);
    o.workers = ParseIntList(workers);
    if (!assembly.empty()) o.assembly = ParseIntList(assembly);
    o.self = fs::canonical("/proc/self/exe").string();
    o.python_ref = (fs::path(POSEBATCH_SOURCE_DIR) / "bench" / "python_reference.py").string();
    if (rss_child) {
      return RssChild(o.models.at(0), o.video, o.frames, o.batches.at(0),
                      o.threads.empty() ? AllCores() : o.threads[0]);
    }
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
