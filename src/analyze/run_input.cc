#include "analyze/run_input.h"

#include <chrono>
#include <filesystem>

#include "analyze/damage_report.h"
#include "io/meta_pickle.h"
#include "io/output_lock.h"
#include "posebatch/labeled_video.h"
#include "posebatch/video_outputs.h"
#include "posebatch/writer.h"
#include "viz/labeling_writer.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

double UnixNow() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// The metadata DeepLabCut copies into _full.pickle from the project's pose_cfg.
FullPickleOptions FullPickleOptionsFor(const Model& model, const std::string& out_base) {
  FullPickleOptions o;
  o.with_boxes = model.spec.method != Method::kBottomUp;
  o.with_box_scores = model.spec.method == Method::kTopDown;  // DeepLabCut's CTD reports boxes without scores
  o.full_path = out_base + "_full.pickle";
  o.assemblies_path = out_base + "_assemblies.pickle";
  if (model.spec.predictor == PredictorType::kPartAffinityField) {
    const PafPredictorSpec& paf = model.spec.paf;
    o.nms_radius = paf.nms_radius;
    o.min_confidence = paf.peak_threshold;
    o.sigma = paf.sigma;
    for (const auto& e : paf.graph) o.graph.push_back({e[0], e[1]});
    for (int i : paf.edges_to_keep) o.graph_inds.push_back(i);
  }
  return o;
}

// What this run writes (video_outputs.h); images get the .h5 and .csv only.
VideoOutputSelection OutputsOf(const RunInputContext& c, bool is_video) {
  VideoOutputSelection which = VideoOutputsFor(*c.options, c.model->spec);
  if (!is_video) {
    VideoOutputSelection images;
    images.csv = which.csv;
    which = images;
  }
  return which;
}

// Analysed only when every output of the list is there (a kill can fall between two renames);
// tracking's files are made from those, not by analysing again (TrackVideo).
bool OutputsComplete(const RunInputContext& c, const std::string& base) {
  std::vector<std::string> analysis;
  for (const VideoOutput& out : VideoOutputList(OutputsOf(c, /*is_video=*/true)))
    if (!IsTrackingOutput(out.kind)) analysis.push_back(out.suffix);
  return VideoOutputsComplete(base, analysis);
}

// The pose writers of one input, one per file of its output list (the labeled video and
// _meta.pickle are written by RunSource); `files`: the list's paths up to the labeled video.
std::vector<std::unique_ptr<PoseWriter>> CreateWriters(const RunInputContext& c, const SourceInfo& info,
                                                       const std::string& out_base, const ColumnLayout& layout,
                                                       const H5WriterOptions& h5, std::vector<std::string>* files) {
  std::vector<std::unique_ptr<PoseWriter>> writers;
  for (const VideoOutput& out : VideoOutputList(OutputsOf(c, info.is_video))) {
    const std::string path = out_base + out.suffix;
    switch (out.kind) {
      case VideoOutputKind::kH5:
      case VideoOutputKind::kCtdH5:  // DeepLabCut writes the tracked rows again for track_method="ctd"
        writers.push_back(CreateH5Writer(path, layout, h5));
        break;
      case VideoOutputKind::kCsv:
      case VideoOutputKind::kCtdCsv:
        writers.push_back(CreateCsvWriter(path, layout));
        break;
      case VideoOutputKind::kFullPickle:  // one writer for both pickles
        writers.push_back(CreateFullPickleWriter(layout, FullPickleOptionsFor(*c.model, out_base)));
        break;
      case VideoOutputKind::kAssembliesPickle:
        break;
      case VideoOutputKind::kLabeledVideo:
      case VideoOutputKind::kMetaPickle:
      case VideoOutputKind::kTracklets:  // after the list's analysis files (TrackVideo)
      case VideoOutputKind::kTrackedH5:
      case VideoOutputKind::kTrackedCsv:
        return writers;
    }
    files->push_back(path);
  }
  return writers;
}

// DeepLabCut's _meta.pickle of a finished video run.
AnalysisMeta MetaFor(const RunInputContext& c, const SourceInfo& info, const ColumnLayout& layout, double start,
                     int64_t rows) {
  const ModelSpec& spec = c.model->spec;
  AnalysisMeta meta;
  meta.start = start;
  meta.stop = UnixNow();
  meta.scorer = layout.scorer;
  meta.config_yaml = spec.config_text;
  meta.fps = info.fps;
  meta.batch_size = c.options->pipeline.batch_size;
  meta.width = info.width;
  meta.height = info.height;
  meta.nframes = info.frame_count >= 0 ? info.frame_count : rows;
  meta.crop = c.options->preprocess.crop;
  meta.individuals = spec.individuals;
  meta.bodyparts = spec.bodyparts;
  meta.unique_bodyparts = spec.unique_bodyparts;
  return meta;
}

// What every pipeline run of an input is given from the Analyzer: the cancel flag and the
// boxes, conditions or conditions model the options named.
RunContext PipelineContextFor(const RunInputContext& c) {
  RunContext ctx;
  ctx.cancel = c.cancel;
  ctx.boxes = c.boxes;
  ctx.conditions = c.conditions;
  ctx.conditions_model = c.conditions_model;
  return ctx;
}

// The journal writer, watched: once `request` is set, the run stops (sets `stop`) as soon as
// the journal has written a whole chunk, so a graceful stop loses no completed work.
class CheckpointStop : public PoseWriter {
 public:
  CheckpointStop(std::unique_ptr<PoseWriter> journal, int64_t chunk_rows, const std::atomic<bool>* request,
                 std::atomic<bool>* stop)
      : journal_(std::move(journal)), chunk_rows_(chunk_rows), request_(request), stop_(stop) {}
  void Append(int64_t index, const std::string& label, const float* values) override {
    journal_->Append(index, label, values);
    if (++rows_ % chunk_rows_ == 0 && request_->load()) stop_->store(true);
  }
  void AppendBoxes(const std::vector<float>& boxes, const std::vector<float>& scores) override {
    journal_->AppendBoxes(boxes, scores);
  }
  void Commit() override { journal_->Commit(); }
  void Abort() noexcept override { journal_->Abort(); }
  const std::string& final_path() const override { return journal_->final_path(); }

 private:
  std::unique_ptr<PoseWriter> journal_;
  const int64_t chunk_rows_;
  const std::atomic<bool>* request_;
  std::atomic<bool>* stop_;
  int64_t rows_ = 0;  // rows of this run (chunks are counted from the rows replayed)
};

// Runs `source` into the outputs at `out_base`. `plan` (videos): the resume journal to write,
// and the rows of an interrupted run to replay first. Throws Error; the result's status is set
// for failures the pipeline reports.
void RunSource(const RunInputContext& c, FrameSource& source, const std::string& out_base, const ColumnLayout& layout,
               const H5WriterOptions& h5, const ResumePlan* plan, InputResult* r) {
  const AnalyzeOptions& o = *c.options;
  std::vector<std::string> files;
  std::vector<std::unique_ptr<PoseWriter>> writers = CreateWriters(c, source.info(), out_base, layout, h5, &files);
  // --labeled-video: the decode thread stashes a copy of each frame, the writer stage draws and
  // encodes it with its row (viz/labeling_writer.h). A resumed video gets its labeled video
  // from the .h5 afterwards (RunVideo): the replayed rows have no decoded frames.
  FrameSource* input = &source;
  std::unique_ptr<FrameSource> tee;
  if (o.labeled_video.enabled && source.info().is_video && (plan == nullptr || !plan->continue_previous)) {
    std::vector<std::string> notes;
    const std::string path = out_base + "_labeled.mp4";  // VideoOutputKind::kLabeledVideo
    viz::LabeledPass pass = viz::AddLabeledPass(source, path, layout, o.labeled_video, c.model->spec.config_text,
                                                o.preprocess.crop, &notes);
    tee = std::move(pass.source);
    input = tee.get();
    writers.push_back(std::move(pass.writer));
    files.push_back(path);
    for (const std::string& n : notes) c.say(MessageLevel::kNote, r->input + ": " + n);
  }
  std::atomic<bool> checkpoint_stop{false};  // set by CheckpointStop: the pipeline stops
  if (plan != nullptr) {
    const JournalContents* previous = plan->continue_previous ? &plan->previous : nullptr;
    if (previous != nullptr) {  // the interrupted run's rows, bit for bit
      const size_t ncols = layout.NumColumns();
      for (int64_t i = 0; i < previous->rows(); ++i)
        for (auto& w : writers) {
          if (plan->with_boxes) w->AppendBoxes(previous->boxes[i], previous->box_scores[i]);
          w->Append(previous->frames[i], "", previous->values.data() + i * ncols);
        }
      r->resumed_rows = previous->rows();
    }
    // Last, so that it is deleted only once the real outputs are in place.
    auto journal = CreateJournalWriter(plan->path, plan->header, layout.NumColumns(), plan->chunk_rows, previous,
                                       plan->with_boxes);
    if (o.stop_at_checkpoint != nullptr) {
      journal.reset(new CheckpointStop(std::move(journal), plan->chunk_rows, o.stop_at_checkpoint, &checkpoint_stop));
    }
    writers.push_back(std::move(journal));
  }
  auto writer = CreateFanOutWriter(std::move(writers));
  const SourceInfo& info = source.info();
  if (o.callbacks.on_input_start) o.callbacks.on_input_start(r->input, info.to_deliver);
  RunContext ctx = PipelineContextFor(c);
  if (o.callbacks.on_progress) ctx.on_progress = [&](const Progress& p) { o.callbacks.on_progress(r->input, p); };
  ctx.stop = &checkpoint_stop;
  ctx.ctd_tracking = o.ctd_tracking ? &o.tracking : nullptr;
  const double start = UnixNow();
  Status st = RunPipeline(*c.model, *input, *writer, o.pipeline, o.preprocess, ctx, &r->stats);
  if (st.ok() && r->stats.frames + r->resumed_rows == 0)
    st = Status::Corrupt(r->input + ": no frames could be decoded");
  if (!st.ok()) {
    writer->Abort();
    std::error_code ec;
    if (plan != nullptr && fs::exists(plan->path, ec)) {
      c.say(MessageLevel::kNote,
            r->input + ": completed chunks are kept in " + plan->path + ": rerun with --resume to continue from them");
    }
    r->status = st;
    return;
  }
  r->rows = r->resumed_rows + r->stats.frames + r->stats.lost_frames;
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
    try {
      WriteMetaPickle(meta_path, MetaFor(c, info, layout, start, r->resumed_rows + r->stats.frames));
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
  r->outputs = std::move(files);
  if (info.is_video) r->outputs.push_back(meta_path);
  for (const std::string& w : DamageWarnings(r->input, r->stats, &r->lost_frames)) c.say(MessageLevel::kWarning, w);
  const int64_t rows = r->stats.frames + r->stats.lost_frames;
  if (info.is_video && info.to_deliver >= 0 && r->resumed_rows == 0 && info.to_deliver != rows) {
    c.say(MessageLevel::kNote, r->input + " declares " + std::to_string(info.to_deliver) + " frames in range; " +
                                   std::to_string(rows) + " rows were written");
  }
}

// A writer that drops rows and stops the run (sets `stop`) once every network has measured its
// first real input, or a graceful stop is asked for: the warm-up of CalibrateAsUninterrupted.
class UntilCalibrated : public PoseWriter {
 public:
  UntilCalibrated(const RunInputContext& c, std::atomic<bool>* stop) : c_(c), stop_(stop) {}
  void Append(int64_t, const std::string&, const float*) override {
    const std::atomic<bool>* graceful = c_.options->stop_at_checkpoint;
    if (Calibrated(c_) || (graceful != nullptr && graceful->load())) stop_->store(true);
  }
  void Commit() override {}
  void Abort() noexcept override {}
  const std::string& final_path() const override { return path_; }
  static bool Calibrated(const RunInputContext& c) {
    return c.model->network->calibrated() &&
           (c.conditions_model == nullptr || c.conditions_model->network->calibrated());
  }

 private:
  const RunInputContext& c_;
  std::atomic<bool>* stop_;
  const std::string path_;
};

// Networks that measure their first real input (--precision int8: activation ranges) measured it
// on the first frame of the range in the run that was interrupted; a resumed run starts later.
// So the range's first frames run again, rows dropped, until they have measured on the same
// frame (the first of the same first batch), and the resumed rows equal an uninterrupted run's.
// When those frames gave them nothing to measure (no frame decoded, no crop), the uninterrupted
// run measured on its first input from the resume point on, as the resumed run will. Throws
// (kCancelled, or the warm-up's failure) before anything touched the journal, which stays.
void CalibrateAsUninterrupted(const RunInputContext& c, const std::string& video, int64_t resume_frame) {
  if (UntilCalibrated::Calibrated(c)) return;
  DecodeOptions first = c.options->decode;
  first.stop_frame = resume_frame;
  const auto source = OpenVideo(video, first);
  std::atomic<bool> calibrated{false};
  UntilCalibrated writer(c, &calibrated);
  RunContext ctx = PipelineContextFor(c);
  ctx.stop = &calibrated;
  RunStats stats;
  const Status st = RunPipeline(*c.model, *source, writer, c.options->pipeline, c.options->preprocess, ctx, &stats);
  if (UntilCalibrated::Calibrated(c)) return;
  const std::atomic<bool>* graceful = c.options->stop_at_checkpoint;
  if ((c.cancel != nullptr && c.cancel->load()) || (graceful != nullptr && graceful->load())) {
    throw Error(Status::Cancelled(video + ": interrupted while measuring int8 ranges; the journal is kept"));
  }
  if (!st.ok()) throw Error(st);
}

// Each input measures afresh (--precision int8), so that its rows do not depend on the inputs
// analysed before it in this process (nor on how a campaign shards them).
void ResetCalibration(const RunInputContext& c) {
  c.model->network->ResetCalibration();
  if (c.conditions_model != nullptr) c.conditions_model->network->ResetCalibration();
}

// DeepLabCut's auto_track: the video's tracklets, then its tracks, from the files just written
// (`fresh`), or from those on disk for a video skipped as analysed (its tracked file kept when
// it exists). Called under the video's lock. A failure fails the input; the detections stay.
void TrackVideo(const RunInputContext& c, const std::string& video, const std::string& base, bool fresh,
                InputResult* r) {
  const AnalyzeOptions& o = *c.options;
  const VideoOutputSelection which = OutputsOf(c, /*is_video=*/true);
  std::error_code ec;
  if (which.tracked.empty() || !fs::exists(base + "_assemblies.pickle", ec)) return;
  std::vector<std::string> tracking;
  for (const VideoOutput& out : VideoOutputList(which))
    if (IsTrackingOutput(out.kind)) tracking.push_back(out.suffix);
  if (!fresh && VideoOutputsComplete(base, tracking)) return;  // tracked before
  TrackOptions t = o.track;
  t.tracklets.dest_dir.clear();   // beside the predictions
  t.tracklets.overwrite = fresh;  // new assemblies: new tracklets
  t.stitch.save_as_csv = o.save_csv;
  std::string written;
  std::vector<std::string> notes;
  const Status st = TrackPredictions(base + "_full.pickle", t, &written, &notes);
  for (const std::string& n : notes) c.say(MessageLevel::kNote, video + ": tracking: " + n);
  if (!st.ok()) {
    r->status = Status(st.code(), video + ": tracking failed (the detections are kept): " + st.message());
    return;
  }
  for (const std::string& suffix : tracking) r->outputs.push_back(base + suffix);
}

}  // namespace

InputResult RunVideo(const RunInputContext& c, const std::string& video, const std::string& model_fingerprint) {
  const AnalyzeOptions& o = *c.options;
  InputResult r;
  r.input = video;
  const std::string base = OutputBase(video, o.dest_dir, *c.scorer);
  try {
    auto skip_if_done = [&] {
      if (o.overwrite || !OutputsComplete(c, base)) return false;
      c.say(MessageLevel::kNote, video + ": already analysed (" + base + ".h5), skipping; --overwrite to redo");
      std::error_code ec;
      fs::remove(base + ".resume", ec);  // left by a kill after the outputs were complete
      r.skipped = true;
      return true;
    };
    if (skip_if_done()) {
      if (!OutputsOf(c, /*is_video=*/true).tracked.empty()) {  // a missing tracked file: under the lock
        std::string holder;
        const std::unique_ptr<OutputLock> lock = OutputLock::TryAcquire(base + ".lock", &holder);
        if (lock != nullptr) TrackVideo(c, video, base, /*fresh=*/false, &r);
      }
      return r;
    }
    // One writer per output: a second process on this video (two campaign tasks given it by
    // mistake) skips it while the first runs. Checked again under the lock: the holder may
    // have finished it meanwhile.
    std::string holder;
    const std::unique_ptr<OutputLock> lock = OutputLock::TryAcquire(base + ".lock", &holder);
    if (lock == nullptr) {
      c.say(MessageLevel::kNote, video + ": being analysed by another process (" +
                                     (holder.empty() ? base + ".lock" : holder) + "), skipping it");
      r.skipped = r.busy = true;
      return r;
    }
    if (skip_if_done()) {
      TrackVideo(c, video, base, /*fresh=*/false, &r);
      return r;
    }
    auto source = OpenVideo(video, o.decode);  // first: a video that cannot be read is named as such
    const ColumnLayout layout = LayoutFor(*c.model, *c.scorer, false);
    JournalHeader header = JournalHeaderFor(model_fingerprint, *c.model, video, layout, o, c.conditions_model);
    // A tracked frame's conditions are the frame before's poses: a run resumed mid-video
    // would start new tracks there. Tracking restarts the video instead.
    if (o.ctd_tracking && o.resume) {
      c.say(MessageLevel::kNote, video +
                                     ": CTD tracking does not resume mid-video (the tracks would restart); "
                                     "analysing it from its start");
    }
    ResumePlan plan =
        PlanResume(base, std::move(header), o.pipeline.batch_size, layout.NumColumns(), o.resume && !o.ctd_tracking,
                   video, o.decode.start_frame, FullPickleOptionsFor(*c.model, base).with_boxes, c.say);
    ResetCalibration(c);
    if (plan.continue_previous) {  // decode and drop the frames already done
      DecodeOptions rest = o.decode;
      rest.start_frame = plan.previous.frames.back() + 1;
      CalibrateAsUninterrupted(c, video, rest.start_frame);
      source = OpenVideo(video, rest);
    }
    RunSource(c, *source, base, layout, H5WriterOptions{}, &plan, &r);
    if (r.status.ok() && o.labeled_video.enabled && plan.continue_previous) {  // from the .h5 (see RunSource)
      std::string written;
      std::vector<std::string> notes;
      Status st = viz::LabelFromH5(base + ".h5", video, "", o.labeled_video, c.model->spec.config_text,
                                   o.preprocess.crop, &written, &notes);
      if (!st.ok()) throw Error(st);
      for (const std::string& n : notes) c.say(MessageLevel::kNote, video + ": " + n);
      r.outputs.insert(r.outputs.end() - 1, written);  // before _meta.pickle, as in a pass
    }
    if (r.status.ok()) TrackVideo(c, video, base, /*fresh=*/true, &r);
  } catch (...) {
    r.status = StatusFromCurrentException(StatusCode::kIOError);
  }
  return r;
}

InputResult RunImages(const RunInputContext& c, const std::vector<std::string>& images) {
  const AnalyzeOptions& o = *c.options;
  InputResult r;
  r.input = std::to_string(images.size()) + " images";
  try {
    const fs::path dir = o.dest_dir.empty() ? fs::path(images[0]).parent_path() : fs::path(o.dest_dir);
    const std::string base = (dir / ("image_predictions_" + *c.scorer)).string();
    H5WriterOptions h5;
    h5.key = "predictions";
    for (const auto& p : images) h5.string_index_width = std::max(h5.string_index_width, p.size());
    auto source = OpenImages(images);
    ResetCalibration(c);
    RunSource(c, *source, base, LayoutFor(*c.model, *c.scorer, true), h5, /*plan=*/nullptr, &r);
  } catch (...) {
    r.status = StatusFromCurrentException(StatusCode::kIOError);
  }
  return r;
}

}  // namespace posebatch
