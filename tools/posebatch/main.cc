// posebatch: the command-line tool. Thin: parsing, file naming, progress; the work is in the
// library.
#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>
#include <unistd.h>

#include "common/stopwatch.h"
#include "io/meta_pickle.h"
#include "io/resume_journal.h"
#include "posebatch/detector.h"
#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/pipeline.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"
#include "predict/ctd_tracking.h"
#include "preprocess/normalize.h"

namespace fs = std::filesystem;
using namespace posebatch;

namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

struct AnalyzeArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string config;
  std::string snapshot;
  std::string device = "cpu";
  std::string frames;
  std::string crop;
  std::string threads = "auto";
  std::string scorer;
  std::string dest;
  std::string batch_size = "8";
  int workers = 1;
  int post_workers = 1;
  int detector_batch_size = 1;
  std::string boxes;
  const BoxProvider* box_provider = nullptr;  // loaded from `boxes`
  std::string conditions;                     // CTD: predictions file of condition poses
  std::string conditions_model;               // CTD: bottom-up model whose poses are the conditions
  const ConditionProvider* condition_provider = nullptr;  // loaded from `conditions`
  Model* condition_model = nullptr;                       // loaded from `conditions_model`
  bool ctd_tracking = false;                  // CTD: track (previous poses are the conditions)
  std::string ctd_tracking_config;            // CTD tracking settings, key=value,... (implies tracking)
  CtdTrackingOptions tracking;                // parsed from the two above
  int slots = 3;
  bool csv = false;
  bool overwrite = false;
  bool resume = false;
  bool no_async = false;
  bool half = false;
  bool channels_last = false;
  bool quiet = false;
  bool allow_lost_frames = false;
};

// Exit statuses: 0 all done; 1 some input failed; 2 bad usage; 3 every input has its outputs,
// but some frames could not be decoded (rows of NaN) and --allow-lost-frames was not given;
// 130 interrupted.
constexpr int kExitLostFrames = 3;

const char* kVideoExts[] = {".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".webm", ".wmv", ".flv", ".h264"};

bool IsVideoPath(const fs::path& p) {
  std::string ext = p.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* v : kVideoExts)
    if (ext == v) return true;
  return false;
}

std::string FormatDuration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// Live progress: one rewritten line on a terminal, a line every 10 s otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter(std::string name, bool quiet) : name_(std::move(name)), quiet_(quiet), tty_(isatty(2)) {}
  void Update(const Progress& p) {
    if (quiet_) return;
    const double interval = tty_ ? 0.25 : 10.0;
    if (p.elapsed_seconds - last_ < interval && p.frames_done != p.frames_total) return;
    last_ = p.elapsed_seconds;
    double fps = p.elapsed_seconds > 0 ? p.frames_done / p.elapsed_seconds : 0;
    std::string total = p.frames_total >= 0 ? std::to_string(p.frames_total) : "?";
    double eta = (p.frames_total >= 0 && fps > 0) ? (p.frames_total - p.frames_done) / fps : -1;
    std::fprintf(stderr, "%s%s: %lld/%s frames  %.2f fps  ETA %s%s", tty_ ? "\r\033[K" : "", name_.c_str(),
                 static_cast<long long>(p.frames_done), total.c_str(), fps, FormatDuration(eta).c_str(),
                 tty_ ? "" : "\n");
    printed_ = true;
  }
  void Finish() {
    if (printed_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  std::string name_;
  bool quiet_, tty_;
  double last_ = -1e9;
  bool printed_ = false;
};

void PrintSummary(const std::string& name, const RunStats& s) {
  const auto& b = s.busy;
  std::fprintf(stderr,
               "%s: %lld frames in %.2f s (%.2f fps), %lld batches\n"
               "  busy s: decode %.2f | preprocess %.2f | inference wait %.2f | inference %.2f | "
               "postprocess %.2f | write %.2f\n",
               name.c_str(), static_cast<long long>(s.frames), s.wall_seconds,
               s.wall_seconds > 0 ? s.frames / s.wall_seconds : 0.0, static_cast<long long>(s.batches), b.decode,
               b.preprocess, b.inference_wait, b.inference, b.postprocess, b.write);
  if (s.source_runs >= 0) {
    std::fprintf(stderr, "  CTD tracking: conditions source ran on %lld of %lld frames\n",
                 static_cast<long long>(s.source_runs), static_cast<long long>(s.frames));
  }
}

bool ParseFrames(const std::string& text, DecodeOptions* d) {
  if (text.empty()) return true;
  auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  try {
    std::string a = text.substr(0, colon), b = text.substr(colon + 1);
    d->start_frame = a.empty() ? 0 : std::stoll(a);
    d->stop_frame = b.empty() ? -1 : std::stoll(b);
  } catch (...) {
    return false;
  }
  return d->start_frame >= 0 && (d->stop_frame < 0 || d->stop_frame >= d->start_frame);
}

bool ParseCrop(const std::string& text, Crop* c) {
  if (text.empty()) return true;
  int v[4];
  char tail;
  if (std::sscanf(text.c_str(), "%d,%d,%d,%d%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) return false;
  *c = Crop{v[0], v[1], v[2], v[3]};
  return c->enabled() && c->x1 >= 0 && c->y1 >= 0;
}

// "10-11, 40" (at most 20 ranges, then "...").
template <typename Range, typename First, typename Last>
std::string FormatRanges(const std::vector<Range>& ranges, First first, Last last) {
  std::string out;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i == 20) return out + ", ...";
    if (i > 0) out += ", ";
    out += std::to_string(first(ranges[i]));
    if (last(ranges[i]) != first(ranges[i])) out += "-" + std::to_string(last(ranges[i]));
  }
  return out;
}

std::string Count(int64_t n, const char* what) {  // "1 damaged packet", "3 damaged packets"
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// Tells what damage cost: frames written as NaN and where, and why decoding stopped early.
// Returns true when frames were lost.
bool ReportDamage(const std::string& display, const RunStats& stats) {
  const StreamEnd& e = stats.stream;
  if (!e.concealed.empty()) {
    int64_t n = 0;
    for (const auto& r : e.concealed) n += r.second - r.first + 1;
    std::fprintf(stderr, "warning: %s: %s decoded from damaged data by concealment (analysed; pixels partly guessed): frames %s\n",
                 display.c_str(), Count(n, "frame").c_str(),
                 FormatRanges(e.concealed, [](const auto& r) { return r.first; }, [](const auto& r) { return r.second; })
                     .c_str());
  }
  if (stats.lost_frames == 0 && e.stop_reason.empty() && e.rejected_packets == 0 && e.failed_frames == 0) {
    return false;
  }
  std::string causes;
  if (e.rejected_packets > 0) causes += Count(e.rejected_packets, "damaged packet") + "; ";
  if (e.failed_frames > 0) causes += Count(e.failed_frames, "frame") + " failed to decode; ";
  if (!e.stop_reason.empty()) causes += e.stop_reason + "; ";
  if (!causes.empty()) causes.resize(causes.size() - 2);
  if (stats.lost_frames > 0) {
    std::fprintf(stderr, "warning: %s: %s could not be decoded, written as rows of NaN: frames %s%s%s\n",
                 display.c_str(), Count(stats.lost_frames, "frame").c_str(),
                 FormatRanges(stats.lost, [](const LostRange& r) { return r.first; },
                              [](const LostRange& r) { return r.last; })
                     .c_str(),
                 causes.empty() ? "" : " (", causes.empty() ? "" : (causes + ")").c_str());
  } else {
    std::fprintf(stderr, "warning: %s: damaged data (%s)%s\n", display.c_str(), causes.c_str(),
                 e.stop_reason.empty() ? ", no frame lost" : "; the frames after that point are unknown");
  }
  return stats.lost_frames > 0 || !e.stop_reason.empty();
}

// The resume journal of one video: what its rows depend on, and what an interrupted run left
// that this run continues (when --resume found a matching, intact journal).
struct ResumePlan {
  std::string path;  // <out_base>.resume
  JournalHeader header;
  int64_t chunk_rows = 0;
  bool continue_previous = false;
  bool with_boxes = false;   // rows carry their frame's boxes (top-down, CTD: for _full.pickle)
  JournalContents previous;  // the rows to replay when continue_previous
};

// Everything the rows of one video depend on; a journal whose header differs is stale.
JournalHeader JournalHeaderFor(const std::string& model_fingerprint, const Model& model, const std::string& video,
                               const ColumnLayout& layout, const DecodeOptions& dec, const PreprocessOptions& pre,
                               const PipelineOptions& popts, const std::string& device) {
  std::string columns;
  for (const auto& col : layout.Columns())
    for (const auto& part : col) columns += part + '\x1f';
  const Crop& c = pre.crop;
  return {{"model_weights", model_fingerprint},
          {"model_config", FingerprintText(model.spec.config_text)},
          {"device", device},
          {"columns", std::to_string(layout.NumColumns()) + ":" + FingerprintText(columns)},
          {"video", FingerprintFileEnds(video)},
          {"frames", std::to_string(dec.start_frame) + ":" + std::to_string(dec.stop_frame)},
          {"crop", c.enabled() ? std::to_string(c.x1) + "," + std::to_string(c.x2) + "," + std::to_string(c.y1) +
                                     "," + std::to_string(c.y2)
                               : "none"},
          {"batch_size", std::to_string(popts.batch_size)},
          {"chunk_rows", std::to_string(JournalChunkRows(popts.batch_size))}};
}

// Decides whether this run continues an interrupted one, and says so on stderr.
ResumePlan PlanResume(const std::string& out_base, JournalHeader header, int batch_size, size_t ncols,
                      bool resume, const std::string& video, int64_t start_frame, bool with_boxes) {
  ResumePlan plan;
  plan.with_boxes = with_boxes;
  // Journals with boxes have longer rows: one without would be misread, so the header says it.
  if (with_boxes) header.push_back({"journal_boxes", "1"});
  plan.path = out_base + ".resume";
  plan.header = std::move(header);
  plan.chunk_rows = JournalChunkRows(batch_size);
  std::error_code ec;
  const bool exists = fs::exists(plan.path, ec);
  if (!resume) {
    if (exists) {
      std::fprintf(stderr, "note: %s: an interrupted run left %s; starting from frame %lld and replacing it "
                   "(--resume continues from it instead)\n", video.c_str(), plan.path.c_str(),
                   static_cast<long long>(start_frame));
    }
    return plan;
  }
  if (!exists) {
    std::fprintf(stderr, "%s: nothing to resume (no %s); starting from frame %lld\n", video.c_str(),
                 plan.path.c_str(), static_cast<long long>(start_frame));
    return plan;
  }
  JournalContents found = ReadJournal(plan.path, ncols, with_boxes);
  std::string why = found.problem;
  if (why.empty()) {
    std::string differs = HeaderMismatch(plan.header, found.header);
    if (!differs.empty()) why = "it was written for another model, video or options: " + differs;
  }
  if (why.empty() && found.rows() == 0) why = "it holds no complete chunk yet";
  if (why.empty() && found.frames.front() != start_frame) why = "its first frame is not the range's start";
  if (!why.empty()) {
    std::fprintf(stderr, "%s: cannot resume from %s (%s); starting from frame %lld\n", video.c_str(),
                 plan.path.c_str(), why.c_str(), static_cast<long long>(start_frame));
    return plan;
  }
  std::fprintf(stderr, "%s: resuming from frame %lld (%lld frames in %lld chunks from %s", video.c_str(),
               static_cast<long long>(found.frames.back() + 1), static_cast<long long>(found.rows()),
               static_cast<long long>(found.chunks), plan.path.c_str());
  if (found.discarded_bytes > 0) {
    std::fprintf(stderr, "; discarded a torn or corrupt tail of %llu bytes",
                 static_cast<unsigned long long>(found.discarded_bytes));
  }
  std::fprintf(stderr, ")\n");
  plan.previous = std::move(found);
  plan.continue_previous = true;
  return plan;
}

// The metadata DeepLabCut copies into _full.pickle from the project's pose_cfg.
FullPickleOptions FullPickleOptionsFor(const Model& model, const std::string& out_base) {
  FullPickleOptions o;
  o.with_boxes = model.spec.method == "td" || model.spec.method == "ctd";
  o.with_box_scores = model.spec.method == "td";  // DeepLabCut's CTD reports boxes without scores
  o.full_path = out_base + "_full.pickle";
  o.assemblies_path = out_base + "_assemblies.pickle";
  if (model.spec.predictor == "PartAffinityFieldPredictor") {
    const PafPredictorSpec& paf = model.spec.paf;
    o.nms_radius = paf.nms_radius;
    o.min_confidence = paf.peak_threshold;
    o.sigma = paf.sigma;
    for (const auto& e : paf.graph) o.graph.push_back({e[0], e[1]});
    for (int i : paf.edges_to_keep) o.graph_inds.push_back(i);
  }
  return o;
}

// Runs one source into writers at `out_base` (+ ".h5" / ".csv"). `plan` (videos): the resume
// journal to write, and the rows of an interrupted run to replay first. Returns the status; sets
// *lost_frames when frames could not be decoded.
Status AnalyzeOne(Model& model, FrameSource& source, const std::string& out_base, const ColumnLayout& layout,
                  const H5WriterOptions& h5, const AnalyzeArgs& args, const PipelineOptions& popts,
                  const PreprocessOptions& pre, const std::string& display, const ResumePlan* plan,
                  bool* lost_frames) {
  std::vector<std::unique_ptr<PoseWriter>> writers;
  writers.push_back(CreateH5Writer(out_base + ".h5", layout, h5));
  if (args.csv) writers.push_back(CreateCsvWriter(out_base + ".csv", layout));
  if (args.ctd_tracking && source.info().is_video) {
    // DeepLabCut writes the tracked rows again as <stem><scorer>_ctd.h5, the file its tools
    // read for track_method="ctd".
    writers.push_back(CreateH5Writer(out_base + "_ctd.h5", layout, h5));
    if (args.csv) writers.push_back(CreateCsvWriter(out_base + "_ctd.csv", layout));
  }
  const bool side_pickles = source.info().is_video && IsMultiAnimal(model.spec);
  if (side_pickles) writers.push_back(CreateFullPickleWriter(layout, FullPickleOptionsFor(model, out_base)));
  int64_t replayed = 0;
  if (plan != nullptr) {
    const JournalContents* previous = plan->continue_previous ? &plan->previous : nullptr;
    if (previous != nullptr) {  // the interrupted run's rows, bit for bit
      const size_t ncols = layout.NumColumns();
      for (int64_t r = 0; r < previous->rows(); ++r)
        for (auto& w : writers) {
          if (plan->with_boxes) w->AppendBoxes(previous->boxes[r], previous->box_scores[r]);
          w->Append(previous->frames[r], "", previous->values.data() + r * ncols);
        }
      replayed = previous->rows();
    }
    // Last, so that it is deleted only once the real outputs are in place.
    writers.push_back(
        CreateJournalWriter(plan->path, plan->header, layout.NumColumns(), plan->chunk_rows, previous, plan->with_boxes));
  }
  auto writer = CreateFanOutWriter(std::move(writers));
  ProgressPrinter progress(display, args.quiet);
  RunContext ctx;
  ctx.on_progress = [&](const Progress& p) { progress.Update(p); };
  ctx.cancel = &g_interrupted;
  ctx.boxes = args.box_provider;
  ctx.conditions = args.condition_provider;
  ctx.conditions_model = args.condition_model;
  ctx.ctd_tracking = args.ctd_tracking ? &args.tracking : nullptr;
  RunStats stats;
  const double start = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  Status st = RunPipeline(model, source, *writer, popts, pre, ctx, &stats);
  progress.Finish();
  if (st.ok() && stats.frames + replayed == 0) st = Status::Corrupt(display + ": no frames could be decoded");
  if (!st.ok()) {
    writer->Abort();
    std::error_code ec;
    if (plan != nullptr && fs::exists(plan->path, ec)) {
      std::fprintf(stderr, "%s: completed chunks are kept in %s: rerun with --resume to continue from them\n",
                   display.c_str(), plan->path.c_str());
    }
    return st;
  }
  const SourceInfo& info = source.info();
  // An earlier run's _meta.pickle is set aside, not overwritten, until the new .h5 is in place:
  // if this run cannot finish (disk full at the last flush), the earlier results stay as they were.
  const std::string meta_path = out_base + "_meta.pickle", meta_previous = meta_path + ".previous";
  std::error_code ec;
  const bool had_meta = info.is_video && fs::exists(meta_path);
  if (had_meta) fs::rename(meta_path, meta_previous, ec);
  auto restore_meta = [&] {
    std::error_code e;
    if (had_meta) {
      fs::rename(meta_previous, meta_path, e);
    } else if (info.is_video) {
      fs::remove(meta_path, e);
    }
  };
  if (info.is_video) {  // DeepLabCut's _meta.pickle, before the .h5 so a complete .h5 implies it
    AnalysisMeta meta;
    meta.start = start;
    meta.stop = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    meta.scorer = layout.scorer;
    meta.config_yaml = model.spec.config_text;
    meta.fps = info.fps;
    meta.batch_size = popts.batch_size;
    meta.width = info.width;
    meta.height = info.height;
    meta.nframes = info.frame_count >= 0 ? info.frame_count : replayed + stats.frames;
    meta.crop = pre.crop;
    meta.individuals = model.spec.individuals;
    meta.bodyparts = model.spec.bodyparts;
    meta.unique_bodyparts = model.spec.unique_bodyparts;
    try {
      WriteMetaPickle(meta_path, meta);
    } catch (...) {
      writer->Abort();
      restore_meta();
      throw;
    }
  }
  try {
    writer->Commit();
  } catch (...) {
    restore_meta();
    throw;
  }
  if (had_meta) fs::remove(meta_previous, ec);
  if (!args.quiet) {
    PrintSummary(display, stats);
    if (replayed > 0) std::fprintf(stderr, "  + %lld frames resumed from the journal\n", static_cast<long long>(replayed));
  }
  *lost_frames = ReportDamage(display, stats);
  const int64_t rows = stats.frames + stats.lost_frames;
  if (info.is_video && info.to_deliver >= 0 && replayed == 0 && info.to_deliver != rows) {
    std::fprintf(stderr, "note: %s declares %lld frames in range; %lld rows were written\n", display.c_str(),
                 static_cast<long long>(info.to_deliver), static_cast<long long>(rows));
  }
  std::printf("%s.h5\n", out_base.c_str());
  if (args.csv) std::printf("%s.csv\n", out_base.c_str());
  if (side_pickles) std::printf("%s_full.pickle\n%s_assemblies.pickle\n", out_base.c_str(), out_base.c_str());
  std::fflush(stdout);
  return st;
}

// --batch-size auto: measure a few batch sizes on the first input's size and keep the fastest.
Status ChooseAutoBatch(Model& model, const std::vector<std::string>& videos, const std::vector<std::string>& images,
                       const PreprocessOptions& pre, const AnalyzeArgs& args, PipelineOptions* popts) {
  try {
    std::unique_ptr<FrameSource> probe = !videos.empty() ? OpenVideo(videos.front(), DecodeOptions{})
                                                         : OpenImages({images.front()});
    const SourceInfo& info = probe->info();
    const InputGeometry g = ComputeGeometry(info.width, info.height, pre, model.spec.input, info.path);
    const std::vector<int> candidates = args.device == "cpu" ? std::vector<int>{1, 2, 4, 8}
                                                             : std::vector<int>{1, 2, 4, 8, 16, 32, 64};
    std::string report;
    popts->batch_size = ChooseBatchSize(model, g.width, g.height, candidates, popts->intra_op_threads, &report);
    if (!args.quiet) {
      std::fprintf(stderr, "batch size auto: %s -> %d\n", report.c_str(), popts->batch_size);
    }
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException(StatusCode::kIOError);
  }
}

int RunAnalyze(AnalyzeArgs args) {
  DecodeOptions dec;
  if (!ParseFrames(args.frames, &dec)) {
    std::cerr << "error: --frames expects START:STOP (e.g. 0:1000), got '" << args.frames << "'\n";
    return 2;
  }
  PreprocessOptions pre;
  if (!ParseCrop(args.crop, &pre.crop)) {
    std::cerr << "error: --crop expects x1,x2,y1,y2 with x1<x2, y1<y2, got '" << args.crop << "'\n";
    return 2;
  }
  PipelineOptions popts;
  const bool auto_batch = args.batch_size == "auto";
  if (!auto_batch) {
    try {
      size_t used = 0;
      popts.batch_size = std::stoi(args.batch_size, &used);
      if (used != args.batch_size.size()) popts.batch_size = 0;
    } catch (...) {
      popts.batch_size = 0;
    }
  }
  popts.num_slots = args.slots;
  popts.preprocess_workers = args.workers;
  popts.postprocess_workers = args.post_workers;
  popts.detector_batch_size = args.detector_batch_size;
  popts.async = !args.no_async;
  popts.pin_memory = args.device != "cpu";
  if (args.threads != "auto") {
    try {
      popts.intra_op_threads = std::stoi(args.threads);
    } catch (...) {
      popts.intra_op_threads = -1;
    }
    if (popts.intra_op_threads < 1) {
      std::cerr << "error: --threads expects a positive number or 'auto'\n";
      return 2;
    }
  }
  if (popts.batch_size < 1 || args.workers < 1 || args.post_workers < 1 || args.slots < 1 ||
      args.detector_batch_size < 1) {
    std::cerr << "error: --batch-size, --detector-batch-size, --workers, --post-workers and --slots must be >= 1\n";
    return 2;
  }
  if (!args.dest.empty()) {
    std::error_code ec;
    fs::create_directories(args.dest, ec);
    if (!fs::is_directory(args.dest)) {
      std::cerr << "error: " << args.dest << ": cannot create destination folder\n";
      return 1;
    }
  }

  // Inputs: videos (files or inside folders) are analysed one by one; images (files or
  // folders of images) together, as DeepLabCut's analyze_images.
  std::vector<std::string> videos, images;
  for (const auto& in : args.inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> vids;
      for (const auto& e : fs::directory_iterator(in))
        if (e.is_regular_file() && IsVideoPath(e.path())) vids.push_back(e.path().string());
      std::sort(vids.begin(), vids.end());
      auto imgs = ListImages(in);
      if (vids.empty() && imgs.empty()) {
        std::cerr << "error: " << in << ": folder holds no videos or images\n";
        return 1;
      }
      videos.insert(videos.end(), vids.begin(), vids.end());
      images.insert(images.end(), imgs.begin(), imgs.end());
    } else if (IsImagePath(in)) {
      images.push_back(in);
    } else {
      videos.push_back(in);  // anything else is tried as a video; errors name it
    }
  }

  std::unique_ptr<BoxProvider> boxes;
  if (!args.boxes.empty()) {
    try {
      boxes = LoadBoxes(args.boxes);
    } catch (const Error& e) {
      std::cerr << "error: " << e.status().message() << "\n";
      return 2;
    }
    args.box_provider = boxes.get();
  }

  Model model;
  try {
    Stopwatch load;
    ModelLoadOptions load_options = MakeLoadOptions(args.config, args.device, args.snapshot);
    load_options.half = args.half;
    load_options.channels_last = args.channels_last;
    model = LoadModel(args.model, load_options);
    if (!args.quiet) {
      std::fprintf(stderr, "model: %s (%zu bodyparts, stride %g) loaded in %.2f s\n",
                   model.network->Describe().c_str(), model.spec.bodyparts.size(), model.spec.pose_head.stride,
                   load.Seconds());
      if (model.detector) std::fprintf(stderr, "detector: %s\n", model.detector->Describe().c_str());
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.status().message() << "\n";
    return 1;
  }
  // CTD conditions: a predictions file, or a bottom-up model run in the same pipeline.
  std::unique_ptr<ConditionProvider> conditions;
  Model condition_model;
  if (!args.conditions.empty() && !args.conditions_model.empty()) {
    std::cerr << "error: give --conditions or --conditions-model, not both\n";
    return 2;
  }
  if ((!args.conditions.empty() || !args.conditions_model.empty()) && model.spec.method != "ctd") {
    std::cerr << "error: --conditions and --conditions-model apply to CTD models (this one is '"
              << model.spec.method << "')\n";
    return 2;
  }
  try {
    if (!args.conditions.empty()) {
      conditions = LoadConditions(args.conditions, static_cast<int64_t>(model.spec.bodyparts.size()));
      args.condition_provider = conditions.get();
    }
    if (!args.conditions_model.empty()) {
      ModelLoadOptions load_options = MakeLoadOptions("", args.device, "");
      load_options.half = args.half;
      load_options.channels_last = args.channels_last;
      condition_model = LoadModel(args.conditions_model, load_options);
      args.condition_model = &condition_model;
      if (!args.quiet) std::fprintf(stderr, "conditions model: %s\n", condition_model.network->Describe().c_str());
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.status().message() << "\n";
    return 1;
  }
  if (!args.ctd_tracking_config.empty()) args.ctd_tracking = true;
  if (args.ctd_tracking) {
    if (model.spec.method != "ctd") {
      std::cerr << "error: --ctd-tracking applies to CTD models (this one is '" << model.spec.method << "')\n";
      return 2;
    }
    try {
      ParseCtdTrackingOptions(args.ctd_tracking_config, &args.tracking);
    } catch (const Error& e) {
      std::cerr << "error: --ctd-tracking-config: " << e.status().message() << "\n";
      return 2;
    }
  }
  if (auto_batch && model.spec.method == "ctd") {
    std::cerr << "error: --batch-size auto is not supported with CTD models yet; give a number\n";
    return 2;
  }
  if (auto_batch) {
    Status st = ChooseAutoBatch(model, videos, images, pre, args, &popts);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return 1;
    }
  }
  const std::string scorer = args.scorer.empty() ? DefaultScorer(model) : args.scorer;
  if (!args.quiet) {
    int threads = popts.intra_op_threads > 0 ? popts.intra_op_threads
                                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::fprintf(stderr, "scorer: %s | batch %d | %s | inference threads %d | preprocess workers %d\n",
                 scorer.c_str(), popts.batch_size, popts.async ? "async" : "sequential", threads,
                 popts.preprocess_workers);
  }

  int failures = 0, damaged = 0;
  std::string model_fingerprint;  // of the weights file, for resume journals; computed once
  for (const auto& video : videos) {
    if (g_interrupted) break;
    fs::path vp(video);
    fs::path dir = args.dest.empty() ? vp.parent_path() : fs::path(args.dest);
    std::string base = (dir / (vp.stem().string() + scorer)).string();
    // Done only when every requested output is there (a kill can fall between two renames).
    if (!args.overwrite && fs::exists(base + ".h5") && fs::exists(base + "_meta.pickle") &&
        (!args.csv || fs::exists(base + ".csv")) && (!args.ctd_tracking || fs::exists(base + "_ctd.h5")) &&
        (!IsMultiAnimal(model.spec) || fs::exists(base + "_assemblies.pickle"))) {
      std::fprintf(stderr, "%s: already analysed (%s.h5), skipping; --overwrite to redo\n", video.c_str(),
                   base.c_str());
      std::error_code ec;
      fs::remove(base + ".resume", ec);  // left by a kill after the outputs were complete
      continue;
    }
    Status st;
    try {
      auto source = OpenVideo(video, dec);  // first: a video that cannot be read is named as such
      if (model_fingerprint.empty()) model_fingerprint = FingerprintFile(model.weights_path);
      const ColumnLayout layout = LayoutFor(model, scorer, false);
      JournalHeader header = JournalHeaderFor(model_fingerprint, model, video, layout, dec, pre, popts, args.device);
      // Rows also depend on given boxes or conditions, or on the conditions model.
      if (!args.boxes.empty()) header.push_back({"boxes", FingerprintFile(args.boxes)});
      if (!args.conditions.empty()) header.push_back({"conditions", FingerprintFile(args.conditions)});
      if (args.condition_model != nullptr) {
        header.push_back({"conditions_model", FingerprintFile(args.condition_model->weights_path)});
      }
      if (args.ctd_tracking) header.push_back({"ctd_tracking", DescribeCtdTrackingOptions(args.tracking)});
      // A tracked frame's conditions are the frame before's poses: a run resumed mid-video
      // would start new tracks there. Tracking restarts the video instead.
      if (args.ctd_tracking && args.resume) {
        std::fprintf(stderr, "%s: CTD tracking does not resume mid-video (the tracks would restart); "
                     "analysing it from its start\n", video.c_str());
      }
      ResumePlan plan = PlanResume(base, std::move(header), popts.batch_size, layout.NumColumns(),
                                   args.resume && !args.ctd_tracking, video, dec.start_frame,
                                   FullPickleOptionsFor(model, base).with_boxes);
      if (plan.continue_previous) {  // decode and drop the frames already done
        DecodeOptions rest = dec;
        rest.start_frame = plan.previous.frames.back() + 1;
        source = OpenVideo(video, rest);
      }
      bool lost = false;
      st = AnalyzeOne(model, *source, base, layout, H5WriterOptions{}, args, popts, pre, video, &plan, &lost);
      if (lost) ++damaged;
    } catch (...) {
      st = StatusFromCurrentException(StatusCode::kIOError);
    }
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      ++failures;
      if (st.code() == StatusCode::kCancelled) break;
    }
  }
  if (!images.empty() && !g_interrupted) {
    fs::path dir = args.dest.empty() ? fs::path(images[0]).parent_path() : fs::path(args.dest);
    std::string base = (dir / ("image_predictions_" + scorer)).string();
    Status st;
    try {
      H5WriterOptions h5;
      h5.key = "predictions";
      for (const auto& p : images) h5.string_index_width = std::max(h5.string_index_width, p.size());
      auto source = OpenImages(images);
      bool lost = false;
      st = AnalyzeOne(model, *source, base, LayoutFor(model, scorer, true), h5, args, popts, pre,
                      std::to_string(images.size()) + " images", /*plan=*/nullptr, &lost);
    } catch (...) {
      st = StatusFromCurrentException(StatusCode::kIOError);
    }
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      ++failures;
    }
  }
  if (g_interrupted) {
    std::cerr << "interrupted: unfinished outputs were removed; finished ones are kept; --resume continues "
                 "unfinished videos from their last completed chunk\n";
    return 130;
  }
  if (failures > 0) return 1;
  if (damaged > 0 && !args.allow_lost_frames) {
    std::fprintf(stderr, "%d video(s) lost frames (see above); exit status %d (--allow-lost-frames: 0)\n", damaged,
                 kExitLostFrames);
    return kExitLostFrames;
  }
  return 0;
}

int RunInfo(const std::string& model_path, const std::string& config, const std::string& snapshot) {
  try {
    Model model = LoadModel(model_path, MakeLoadOptions(config, "cpu", snapshot));
    const ModelSpec& s = model.spec;
    std::printf("model:        %s\n", model.network->Describe().c_str());
    std::printf("config:       %s\n", s.config_path.c_str());
    std::printf("method:       %s\n", s.method.c_str());
    std::printf("net_type:     %s\n", s.net_type.c_str());
    std::printf("bodyparts:   ");
    for (const auto& b : s.bodyparts) std::printf(" %s", b.c_str());
    std::printf("\nindividuals: ");
    for (const auto& i : s.individuals) std::printf(" %s", i.c_str());
    std::printf("\ninput:        %s, normalize %s, pad to multiple of %d\n", s.input.bgr ? "BGR" : "RGB",
                s.input.normalize ? "yes" : "no", s.input.pad_multiple);
    if (s.predictor == "HeatmapPredictor") {
      std::printf("predictor:    HeatmapPredictor stride %g, locref %s (std %g), sigmoid %s, clip %s\n",
                  s.pose_head.stride, s.pose_head.location_refinement ? "yes" : "no", s.pose_head.locref_std,
                  s.pose_head.apply_sigmoid ? "yes" : "no", s.pose_head.clip_scores ? "yes" : "no");
    } else {
      std::printf("predictor:    %s\n", s.predictor.c_str());
    }
    std::printf("scorer:       %s\n", DefaultScorer(model).c_str());
    return 0;
  } catch (const Error& e) {
    std::cerr << "error: " << e.status().message() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"posebatch: fast DeepLabCut pose inference over videos and images"};
  app.require_subcommand(1);

  AnalyzeArgs a;
  auto* analyze = app.add_subcommand("analyze", "analyze videos / images with a pose model");
  analyze->add_option("model", a.model, "model folder (pytorch_config.yaml + TorchScript) or TorchScript file")
      ->required();
  analyze->add_option("inputs", a.inputs, "videos, images, or folders of them")->required();
  analyze->add_option("--config", a.config, "pytorch_config.yaml (default: beside the model, or inside an export)");
  analyze->add_option("--snapshot", a.snapshot, "training folder: the snapshot to use (default: best, else last)");
  analyze->add_option("--batch-size,-b", a.batch_size, "frames per inference batch, or auto (measure 1-8 and keep the fastest)")
      ->capture_default_str();
  analyze->add_option("--dest,-d", a.dest, "output folder (default: next to each input)");
  analyze->add_flag("--csv", a.csv, "also write .csv");
  analyze->add_option("--frames", a.frames, "frame range START:STOP (STOP exclusive; either may be empty)");
  analyze->add_option("--crop", a.crop, "analyse only x1,x2,y1,y2 (DeepLabCut's cropping)");
  analyze->add_option("--threads,-t", a.threads, "inference threads, or auto (= all cores)")->capture_default_str();
  analyze->add_option("--workers", a.workers, "preprocess worker threads")->capture_default_str();
  analyze->add_option("--detector-batch-size", a.detector_batch_size,
                      "frames per detector batch (top-down), or per conditions-model batch (CTD)")
      ->capture_default_str();
  analyze->add_option("--conditions", a.conditions,
                      "CTD: condition poses per frame from DeepLabCut predictions (.h5, or .json: a list per "
                      "frame or a mapping from image path)");
  analyze->add_option("--conditions-model", a.conditions_model,
                      "CTD: a bottom-up model (export, snapshot or folder) whose poses are the conditions, run "
                      "in the same pipeline");
  analyze->add_flag("--ctd-tracking", a.ctd_tracking,
                    "CTD: track: each frame's poses are the next frame's conditions (DeepLabCut's ctd_tracking); "
                    "the conditions source starts the tracks and is rerun by DeepLabCut's rules. Also writes "
                    "<stem><scorer>_ctd.h5");
  analyze->add_option("--ctd-tracking-config", a.ctd_tracking_config,
                      "CTD tracking settings as key=value,... with DeepLabCut's CTDTrackingConfig keys "
                      "(bu_on_lost_idv, bu_min_frequency, bu_max_frequency, threshold_bu_add, threshold_ctd, "
                      "threshold_nms) and stable_rows; implies --ctd-tracking");
  analyze->add_option("--boxes", a.boxes,
                      "top-down: JSON of boxes per frame number or image path ([x, y, w, h(, score)] lists), "
                      "instead of the model's detector");
  analyze->add_option("--post-workers", a.post_workers,
                      "postprocess threads (predictor, multi-animal assembly), in parallel over batches")
      ->capture_default_str();
  analyze->add_option("--slots", a.slots, "preallocated batch slots (memory bound)")->capture_default_str();
  analyze->add_option("--scorer", a.scorer, "scorer name in outputs (default: from the model)");
  analyze->add_option("--device", a.device, "cpu or cuda[:N]")->capture_default_str();
  analyze->add_flag("--half", a.half, "float16 inference (GPU, native models)");
  analyze->add_flag("--channels-last", a.channels_last,
                    "NHWC native networks: faster on CPU, scores may differ from DeepLabCut's by ~1e-5");
  analyze->add_flag("--overwrite", a.overwrite, "redo inputs that already have results");
  analyze->add_flag("--resume", a.resume,
                    "continue an interrupted run from its last completed chunk (its .resume journal)");
  analyze->add_flag("--no-async", a.no_async, "run all stages in one thread, in turn");
  analyze->add_flag("--quiet,-q", a.quiet, "no progress or summary");
  analyze->add_flag("--allow-lost-frames", a.allow_lost_frames,
                    "exit 0 even when frames of a damaged video could not be decoded (else exit 3)");

  std::string info_model, info_config, info_snapshot;
  auto* info = app.add_subcommand("info", "describe a model");
  info->add_option("model", info_model, "model folder or file")->required();
  info->add_option("--config", info_config, "pytorch_config.yaml");
  info->add_option("--snapshot", info_snapshot, "training folder: the snapshot to use");

  CLI11_PARSE(app, argc, argv);
  TuneAllocatorForInference();
  std::signal(SIGINT, OnSigint);
  std::signal(SIGTERM, OnSigint);
  if (*analyze) return RunAnalyze(a);
  if (*info) return RunInfo(info_model, info_config, info_snapshot);
  return 2;
}
