#include "ctd_bench.h"

#include <ATen/ATen.h>

#include <cstdio>

#include "common/stopwatch.h"
#include "pipeline/cues/frame_cues.h"
#include "pipeline/kit/inference_thread.h"
#include "posebatch/conditional_network.h"
#include "posebatch/pipeline.h"
#include "predict/ctd_tracking.h"
#include "predict/simcc_predictor.h"
#include "preprocess/ctd_conditions.h"
#include "preprocess/normalize.h"
#include "preprocess/topdown_crop.h"

namespace fs = std::filesystem;

namespace posebatch::bench {
namespace {

// What the CTD stages need from the CTD model's config.
struct CtdParts {
  ConditionalNetwork* net = nullptr;
  TopDownCropSpec crop;
  SimCCPredictorSpec simcc;
  double margin = 20;
  int64_t k = 0;
  int individuals = 1;
};

CtdParts PartsOf(Model& ctd) {
  CtdParts p;
  p.net = dynamic_cast<ConditionalNetwork*>(ctd.network.get());
  if (p.net == nullptr) throw Error(Status::InvalidArgument(ctd.path + ": not a CTD model"));
  p.crop = ctd.spec.crop;
  p.simcc = ctd.spec.simcc;
  p.margin = ctd.spec.bbox_margin;
  p.k = static_cast<int64_t>(ctd.spec.bodyparts.size());
  p.individuals = static_cast<int>(ctd.spec.individuals.size());
  return p;
}

RunStats PipelineRun(Model& ctd, Model& bu, const CtdCase& c, int64_t frames, const fs::path& tmp) {
  DecodeOptions d;
  d.stop_frame = frames;
  auto src = OpenVideo(c.video, d);
  auto writer = CreateH5Writer((tmp / "ctd.h5").string(), LayoutFor(ctd, "bench", false), H5WriterOptions{});
  PipelineOptions opt;
  opt.batch_size = c.batch;
  opt.detector_batch_size = c.bu_batch;
  opt.intra_op_threads = c.threads;
  RunContext ctx;
  ctx.conditions_model = &bu;
  const CtdTrackingOptions tracking;
  if (c.tracking) ctx.ctd_tracking = &tracking;
  RunStats stats;
  const Status st = RunPipeline(ctd, *src, *writer, opt, PreprocessOptions{}, ctx, &stats);
  writer->Abort();
  ThrowIfError(st);
  return stats;
}

// DeepLabCut's scheme: every stage of a frame in turn, the BU model at batch 1, the CTD model
// on that frame's crops (tracking: the BU model when the tracker asks). Returns fps; sets
// *source_share to the share of frames the BU model ran on.
double SequentialRun(Model& ctd, Model& bu, const CtdCase& c, int64_t frames, const fs::path& tmp,
                     double* source_share = nullptr) {
  const CtdParts p = PartsOf(ctd);
  auto cues = MakeBottomUpConditionCues(bu, p.k);
  const Normalizer normalizer(bu.spec.input);
  const TopDownCropper cropper(ctd.spec.input);
  DecodeOptions d;
  d.stop_frame = frames;
  auto src = OpenVideo(c.video, d);
  auto writer = CreateH5Writer((tmp / "seq.h5").string(), LayoutFor(ctd, "bench", false), H5WriterOptions{});
  Frame f;
  int64_t done = 0;
  CtdTracker tracker{CtdTrackingOptions{}};
  Stopwatch sw;
  while (src->Next(&f)) {
    at::Tensor conditions;
    if (!c.tracking || tracker.BeginFrame()) {
      const InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, bu.spec.input, c.video);
      at::Tensor input = at::empty({1, 3, g.height, g.width});
      normalizer.Write(f, g, input.data_ptr<float>());
      std::vector<FrameCues> found;
      InferenceThread::Get().Run(c.threads, [&] { found = cues->Run(input); });
      conditions = found.at(0).conditions;
    }
    if (c.tracking) conditions = tracker.Conditions(conditions);
    conditions = conditions.contiguous();
    const auto crops =
        PrepareCtdCrops(conditions.data_ptr<float>(), conditions.size(0), p.k, f.width, f.height, p.margin, p.crop);
    const int64_t n = static_cast<int64_t>(crops.size());
    at::Tensor poses = at::empty({0, p.k, 3});
    if (n > 0) {
      at::Tensor batch = at::empty({n, 3, p.crop.height, p.crop.width});
      at::Tensor cond = at::empty({n, p.k, 3});
      for (int64_t i = 0; i < n; ++i) {
        cropper.Write(f, crops[i].plan, batch[i].data_ptr<float>());
        std::copy(crops[i].conditions.begin(), crops[i].conditions.end(), cond[i].data_ptr<float>());
      }
      InferenceThread::Get().Run(c.threads, [&] {
        HeadOutputs out = p.net->Forward(batch, cond);
        poses = PredictSimCCPoses(out.at("bodypart").at("x"), out.at("bodypart").at("y"), p.simcc);
      });
    }
    at::Tensor row = CtdFramePoses(poses, crops, p.individuals, !c.tracking || tracker.rescore()).contiguous();
    if (c.tracking) row = tracker.EndFrame(row, f.width, f.height).contiguous();
    writer->Append(f.index, "", row.data_ptr<float>());
    ++done;
  }
  const double seconds = sw.Seconds();
  if (source_share != nullptr) {
    *source_share = c.tracking ? static_cast<double>(tracker.source_runs()) / std::max<int64_t>(1, done) : 1.0;
  }
  writer->Abort();
  return static_cast<double>(done) / seconds;
}

// Engine-only: the BU model (forward + postprocess) on real frames at its batch, the CTD model
// on crops at the pose batch; fps for `crops_per_frame` crops per frame.
double EngineOnly(Model& ctd, Model& bu, const CtdCase& c, double crops_per_frame, double source_share) {
  const CtdParts p = PartsOf(ctd);
  auto cues = MakeBottomUpConditionCues(bu, p.k);
  const Normalizer normalizer(bu.spec.input);
  at::Tensor frames;
  {
    auto src = OpenVideo(c.video, DecodeOptions{});
    Frame f;
    for (int i = 0; i < c.bu_batch && src->Next(&f); ++i) {
      const InputGeometry g = ComputeGeometry(f.width, f.height, PreprocessOptions{}, bu.spec.input, c.video);
      if (i == 0) frames = at::empty({c.bu_batch, 3, g.height, g.width});
      normalizer.Write(f, g, frames[i].data_ptr<float>());
    }
  }
  const int reps = 3;
  double bu_s = 0, ctd_s = 0;
  InferenceThread::Get().Run(c.threads, [&] {
    cues->Run(frames);  // warm-up
    Stopwatch sw;
    for (int r = 0; r < reps; ++r) cues->Run(frames);
    bu_s = sw.Seconds() / (reps * c.bu_batch);
    // Crops with conditions spread over the crop, as real ones are.
    at::Tensor crops = at::randn({c.batch, 3, p.crop.height, p.crop.width});
    at::Tensor cond = at::rand({c.batch, p.k, 3}) * (p.crop.width - 40) + 20;
    cond.select(2, 2).fill_(0.9);
    p.net->Forward(crops, cond);
    sw.Reset();
    for (int r = 0; r < reps; ++r) p.net->Forward(crops, cond);
    ctd_s = sw.Seconds() / (reps * c.batch);
  });
  return 1.0 / (source_share * bu_s + crops_per_frame * ctd_s);
}

}  // namespace

std::vector<std::string> CtdColumns() {
  return {"models",     "size",           "BU batch",           "pose batch",
          "threads",    "crops/frame",    "engine fps",         "pipeline fps",
          "efficiency", "sequential fps", "async / sequential", "infer idle ms/f",
          "crop ms/f"};
}

void RunCtdCase(Model& ctd, Model& bottom_up, const CtdCase& c, const fs::path& tmp, Table* table) {
  PipelineRun(ctd, bottom_up, c, std::min<int64_t>(c.frames, 4), tmp);  // warm-up
  SequentialRun(ctd, bottom_up, c, std::min<int64_t>(c.frames, 2), tmp);
  std::vector<double> engine, pipe, seq;
  RunStats last;
  for (int r = 0; r < c.repeats; ++r) {
    last = PipelineRun(ctd, bottom_up, c, c.frames, tmp);
    pipe.push_back(last.frames / last.wall_seconds);
    double share = 1;
    seq.push_back(SequentialRun(ctd, bottom_up, c, c.frames, tmp, &share));
    engine.push_back(
        EngineOnly(ctd, bottom_up, c, static_cast<double>(last.crops) / std::max<int64_t>(1, last.frames), share));
  }
  const Stat e = Summarize(engine), p = Summarize(pipe), s = Summarize(seq);
  const double cpf = static_cast<double>(last.crops) / std::max<int64_t>(1, last.frames);
  table->AddRow({c.name + (c.tracking ? " (tracking)" : ""), std::to_string(c.width) + "x" + std::to_string(c.height),
                 std::to_string(c.bu_batch), std::to_string(c.batch), std::to_string(c.threads), Fmt("%.2f", cpf),
                 FmtStat(e, "%.2f"), FmtStat(p, "%.2f"), Fmt("%.3f", p.median / e.median), FmtStat(s, "%.2f"),
                 Fmt("%.2fx", p.median / s.median),
                 Fmt("%.1f", 1e3 * last.busy.inference_wait / std::max<int64_t>(1, last.frames)),
                 Fmt("%.1f", 1e3 * last.busy.preprocess / std::max<int64_t>(1, last.frames))});
  std::fprintf(stderr, "%s (CTD) b=%d bu=%d t=%d: engine %.2f, pipeline %.2f, sequential %.2f fps\n", c.name.c_str(),
               c.batch, c.bu_batch, c.threads, e.median, p.median, s.median);
}

}  // namespace posebatch::bench
