// The option tables of option_table.h: each option of a run declared once, here.
#include "posebatch/option_table.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace posebatch {
namespace {

namespace ov = option_values;

// A row's field inside its struct. `get` reads through it: the accessor only forms a reference.
template <typename O, typename T>
using Field = T& (*)(O&);

template <typename O>
OptionSpec<O> Row(std::string names, std::string group, std::string help) {
  OptionSpec<O> s;
  s.names = std::move(names);
  s.group = std::move(group);
  s.help = std::move(help);
  return s;
}

template <typename O>
OptionSpec<O> Flag(std::string names, std::string group, std::string help, Field<O, bool> field) {
  OptionSpec<O> s = Row<O>(std::move(names), std::move(group), std::move(help));
  s.kind = OptionKind::kFlag;
  s.example = "true";
  s.set = [field](const std::string& v, O* o) { return ov::Bool(v, &field(*o)); };
  s.get = [field](const O& o) { return ov::BoolText(field(const_cast<O&>(o))); };
  return s;
}

template <typename O>
OptionSpec<O> IntValue(std::string names, std::string group, std::string help, int min, int max, Field<O, int> field) {
  OptionSpec<O> s = Row<O>(std::move(names), std::move(group), std::move(help));
  s.value_name = "N";
  s.example = std::to_string(min + 1 <= max ? min + 1 : min);
  s.set = [field, min, max](const std::string& v, O* o) { return ov::Int(v, min, max, &field(*o)); };
  s.get = [field](const O& o) { return std::to_string(field(const_cast<O&>(o))); };
  return s;
}

template <typename O>
OptionSpec<O> RealValue(std::string names, std::string group, std::string help, double min, double max,
                        Field<O, double> field) {
  OptionSpec<O> s = Row<O>(std::move(names), std::move(group), std::move(help));
  s.value_name = "X";
  s.example = std::to_string((min + max) / 2);
  s.set = [field, min, max](const std::string& v, O* o) { return ov::Real(v, min, max, &field(*o)); };
  s.get = [field](const O& o) {
    const double x = field(const_cast<O&>(o));
    return x < 0 ? std::string() : std::to_string(x);  // < 0: "the project's"
  };
  return s;
}

// Any text (a path, a name). `must_exist`: a file that exists.
template <typename O>
OptionSpec<O> Text(std::string names, std::string group, std::string help, std::string value_name,
                   Field<O, std::string> field, bool must_exist = false) {
  OptionSpec<O> s = Row<O>(std::move(names), std::move(group), std::move(help));
  s.value_name = std::move(value_name);
  s.example = "x";
  s.set = [field, must_exist](const std::string& v, O* o) {
    if (must_exist) return ov::ExistingFile(v, &field(*o));
    field(*o) = v;
    return Status::OK();
  };
  s.get = [field](const O& o) { return field(const_cast<O&>(o)); };
  return s;
}

template <typename O>
OptionSpec<O> Choice(std::string names, std::string group, std::string help, std::vector<std::string> choices,
                     Field<O, std::string> field) {
  std::string form;
  for (const std::string& c : choices) form += (form.empty() ? "" : "|") + c;
  OptionSpec<O> s = Text<O>(std::move(names), std::move(group), std::move(help), form, field);
  s.example = choices.back();
  s.set = [field, choices](const std::string& v, O* o) { return ov::OneOf(v, choices, &field(*o)); };
  return s;
}

template <typename O>
OptionSpec<O> Keyed(OptionSpec<O> s, std::string journal, std::string example = "") {
  s.rows = RowEffect::kKeyed;
  s.journal = std::move(journal);
  if (!example.empty()) s.example = std::move(example);
  return s;
}

template <typename O>
OptionSpec<O> ByModel(OptionSpec<O> s) {
  s.rows = RowEffect::kByModel;
  return s;
}

template <typename O>
OptionSpec<O> Env(OptionSpec<O> s, std::string env) {
  s.env = std::move(env);
  return s;
}

// "N" or "auto" (0): thread counts.
template <typename O>
OptionSpec<O> Threads(std::string group, Field<O, int> field) {
  OptionSpec<O> s = Row<O>("--threads,-t", std::move(group), "inference threads, or auto (= all cores)");
  s.value_name = "N|auto";
  s.example = "1";
  s.set = [field](const std::string& v, O* o) {
    if (v == "auto") {
      field(*o) = 0;
      return Status::OK();
    }
    Status st = ov::Int(v, 1, 1024, &field(*o));
    return st.ok() ? st : Status::InvalidArgument("expects a whole number from 1 to 1024 or 'auto', got '" + v + "'");
  };
  s.get = [field](const O& o) {
    const int n = field(const_cast<O&>(o));
    return n == 0 ? std::string("auto") : std::to_string(n);
  };
  return Env(s, "POSEBATCH_THREADS");
}

OptionTable<ModelLoadOptions> BuildModelTable() {
  using M = ModelLoadOptions;
  const std::string g = "Model";
  OptionTable<M> t;
  t.push_back(ByModel(Text<M>(
      "--config", g, "pytorch_config.yaml (default: beside the model / inside an export)", "FILE",
      [](M& o) -> std::string& { return o.config_path; }, true)));
  t.push_back(ByModel(Text<M>("--snapshot", g,
                              "training folder: the snapshot to use, a path or a name in the folder (default: "
                              "DeepLabCut's: the project's snapshotindex, else the best, else the last)",
                              "FILE", [](M& o) -> std::string& { return o.snapshot; })));
  t.push_back(ByModel(Text<M>("--detector-snapshot", g,
                              "top-down training folder: the detector snapshot to use, a path or a name in the "
                              "folder (default: DeepLabCut's: the project's detector_snapshotindex, else the best "
                              "snapshot-detector-*.pt, else the last)",
                              "FILE", [](M& o) -> std::string& { return o.detector_snapshot; })));
  OptionSpec<M> device =
      Text<M>("--device", g, "where inference runs", "cpu|cuda[:N]", [](M& o) -> std::string& { return o.device; });
  device.set = [](const std::string& v, M* o) { return ov::Device(v, &o->device); };
  t.push_back(Env(Keyed(device, "device", "cuda"), "POSEBATCH_DEVICE"));
  t.push_back(
      ByModel(Flag<M>("--half", g, "float16 inference (GPU, native models)", [](M& o) -> bool& { return o.half; })));
  OptionSpec<M> nhwc = Row<M>("--channels-last,!--no-channels-last", g,
                              "NHWC native networks, 1.2-1.3x faster on CPU (default for bottom-up and CTD models: "
                              "scores within 1e-4 of DeepLabCut's); --no-channels-last: DeepLabCut's NCHW order "
                              "(default for top-down; scores within 1e-5)");
  nhwc.kind = OptionKind::kNegatable;
  nhwc.example = "false";
  nhwc.set = [](const std::string& v, M* o) {
    bool b = false;
    Status st = ov::Bool(v, &b);
    if (st.ok()) o->channels_last = b;
    return st;
  };
  nhwc.get = [](const M& o) { return o.channels_last ? ov::BoolText(*o.channels_last) : std::string(); };
  t.push_back(ByModel(nhwc));
  t.push_back(Env(ByModel(Choice<M>("--precision", g,
                                    "bf16: bfloat16 inference on CPUs with AVX512-BF16/AMX; int8: int8 convolutions "
                                    "on CPUs with VNNI/AMX (faster; on the real open-field frames keypoints moved by "
                                    "p99 0.12 px in bf16, 1.7 px in int8; see docs/models.md)",
                                    {"float32", "bf16", "int8"}, [](M& o) -> std::string& { return o.precision; })),
                  "POSEBATCH_PRECISION"));
  return t;
}

OptionTable<LabeledVideoOptions> BuildDrawingTable() {
  using L = LabeledVideoOptions;
  const std::string g = "Drawing";
  OptionTable<L> t;
  t.push_back(RealValue<L>("--pcutoff", g,
                           "points with likelihood <= pcutoff are not drawn (default: the project config's, else 0.6)",
                           0.0, 1.0, [](L& o) -> double& { return o.pcutoff; }));
  t.push_back(RealValue<L>("--dotsize", g, "dot radius in pixels (default: the project's, else 8)", 0.5, 1000.0,
                           [](L& o) -> double& { return o.dotsize; }));
  t.push_back(Choice<L>("--colormap", g, "matplotlib colormap (default: the project's, else rainbow)", ColormapNames(),
                        [](L& o) -> std::string& { return o.colormap; }));
  t.back().value_name = "NAME";
  t.push_back(Choice<L>("--color-by", g,
                        "colour per bodypart or per individual (default: bodypart for one animal, individual for "
                        "several)",
                        {"bodypart", "individual"}, [](L& o) -> std::string& { return o.color_by; }));
  t.push_back(Flag<L>("--draw-skeleton", g, "lines between skeleton pairs (from --skeleton or the project config)",
                      [](L& o) -> bool& { return o.draw_skeleton; }));
  OptionSpec<L> skeleton =
      Row<L>("--skeleton", g, "skeleton pairs a-b,c-d (default: the project config's); implies --draw-skeleton");
  skeleton.value_name = "A-B,...";
  skeleton.example = "nose-tail";
  skeleton.set = [](const std::string& v, L* o) {
    Status st = ov::Skeleton(v, &o->skeleton);
    if (st.ok()) o->draw_skeleton = true;
    return st;
  };
  skeleton.get = [](const L& o) {
    std::string text;
    for (const auto& [a, b] : o.skeleton) text += (text.empty() ? "" : ",") + a + "-" + b;
    return text;
  };
  t.push_back(skeleton);
  t.push_back(IntValue<L>("--trail", g, "also draw each point's previous N positions", 0, 1000,
                          [](L& o) -> int& { return o.trail; }));
  t.push_back(Flag<L>("--draw-boxes", g, "boxes: the detector's (top-down, analyze) or around each animal's points",
                      [](L& o) -> bool& { return o.boxes; }));
  t.push_back(Text<L>(
      "--project-config", g,
      "DeepLabCut project config.yaml for pcutoff, dotsize, colormap, skeleton (analyze: default the "
      "model's project when found)",
      "FILE", [](L& o) -> std::string& { return o.project_config; }, true));
  t.push_back(IntValue<L>("--crf", g, "H.264 quality (libx264 CRF, lower is better)", 0, 51,
                          [](L& o) -> int& { return o.crf; }));
  return t;
}

void AddOutputRows(OptionTable<AnalyzeOptions>* t) {
  using A = AnalyzeOptions;
  const std::string g = "Outputs";
  t->push_back(Text<A>("--dest,-d", g, "output folder (default: next to each input)", "DIR",
                       [](A& o) -> std::string& { return o.dest_dir; }));
  t->push_back(Flag<A>("--csv", g, "also write .csv", [](A& o) -> bool& { return o.save_csv; }));
  // The scorer is the columns' first level: keyed through them.
  t->push_back(Keyed(Text<A>("--scorer", g, "scorer level of the outputs (default: DeepLabCut's, from the model)",
                             "NAME", [](A& o) -> std::string& { return o.scorer; }),
                     "columns", "OtherScorer"));
  t->push_back(Flag<A>("--overwrite", g, "redo inputs that already have results (default: skip them)",
                       [](A& o) -> bool& { return o.overwrite; }));
  t->push_back(Flag<A>("--resume", g, "continue an interrupted run from its last completed chunk (.resume journal)",
                       [](A& o) -> bool& { return o.resume; }));
  const std::string lv = "Labeled video";
  t->push_back(Flag<A>("--labeled-video", lv,
                       "also write <stem><scorer>_labeled.mp4 (H.264) in the same pass: the poses drawn on the "
                       "decoded frames",
                       [](A& o) -> bool& { return o.labeled_video.enabled; }));
  for (auto& row : LiftOptions(DrawingOptionTable(), &A::labeled_video, lv, "labeled_video")) t->push_back(row);
}

void AddRangeRows(OptionTable<AnalyzeOptions>* t) {
  using A = AnalyzeOptions;
  const std::string g = "What to analyse";
  OptionSpec<A> frames = Row<A>("--frames", g, "frame range START:STOP (STOP exclusive; either may be empty)");
  frames.value_name = "START:STOP";
  frames.set = [](const std::string& v, A* o) {
    return ov::FrameRange(v, &o->decode.start_frame, &o->decode.stop_frame);
  };
  frames.get = [](const A& o) {
    if (o.decode.start_frame == 0 && o.decode.stop_frame < 0) return std::string();
    return std::to_string(o.decode.start_frame) + ":" +
           (o.decode.stop_frame < 0 ? std::string() : std::to_string(o.decode.stop_frame));
  };
  t->push_back(Keyed(frames, "frames", "5:"));
  OptionSpec<A> crop = Row<A>("--crop", g, "analyse only x1,x2,y1,y2 (DeepLabCut's cropping)");
  crop.value_name = "X1,X2,Y1,Y2";
  crop.set = [](const std::string& v, A* o) { return ov::CropBox(v, &o->preprocess.crop); };
  crop.get = [](const A& o) {
    const Crop& c = o.preprocess.crop;
    if (!c.enabled()) return std::string();
    return std::to_string(c.x1) + "," + std::to_string(c.x2) + "," + std::to_string(c.y1) + "," + std::to_string(c.y2);
  };
  t->push_back(Keyed(crop, "crop", "1,9,2,8"));
}

void AddPerformanceRows(OptionTable<AnalyzeOptions>* t) {
  using A = AnalyzeOptions;
  const std::string g = "Performance";
  OptionSpec<A> batch = Row<A>("--batch-size,-b", g,
                               "frames (top-down: crops) per inference batch, or auto (time 1-8, keep the fastest)");
  batch.value_name = "N|auto";
  batch.set = [](const std::string& v, A* o) {
    o->auto_batch_size = v == "auto";
    if (o->auto_batch_size) return Status::OK();
    Status st = ov::Int(v, 1, 4096, &o->pipeline.batch_size);
    return st.ok() ? st : Status::InvalidArgument("expects a whole number from 1 to 4096 or 'auto', got '" + v + "'");
  };
  batch.get = [](const A& o) { return o.auto_batch_size ? "auto" : std::to_string(o.pipeline.batch_size); };
  // auto is keyed through the batch size it chose (the journal holds the one in use).
  t->push_back(Env(Keyed(batch, "batch_size", "4"), "POSEBATCH_BATCH_SIZE"));
  t->push_back(Threads<A>(g, [](A& o) -> int& { return o.pipeline.intra_op_threads; }));
  t->push_back(IntValue<A>("--workers", g, "preprocess worker threads", 1, 64,
                           [](A& o) -> int& { return o.pipeline.preprocess_workers; }));
  t->push_back(IntValue<A>("--post-workers", g,
                           "postprocess threads (predictor, multi-animal assembly), in parallel over batches", 1, 64,
                           [](A& o) -> int& { return o.pipeline.postprocess_workers; }));
  t->push_back(Keyed(IntValue<A>("--detector-batch-size", g,
                                 "frames per detector batch (top-down), or per conditions-model batch (CTD)", 1, 4096,
                                 [](A& o) -> int& { return o.pipeline.detector_batch_size; }),
                     "detector_batch_size"));
  t->push_back(IntValue<A>("--slots", g, "preallocated batch slots (the memory bound)", 1, 64,
                           [](A& o) -> int& { return o.pipeline.num_slots; }));
  t->back().example = "5";
  OptionSpec<A> async = Flag<A>("--async,!--no-async", g,
                                "stages on their own threads (default); --no-async: every stage in one thread, in "
                                "turn (for comparison; same results)",
                                [](A& o) -> bool& { return o.pipeline.async; });
  async.kind = OptionKind::kNegatable;
  async.example = "false";
  t->push_back(async);
}

void AddCropModeRows(OptionTable<AnalyzeOptions>* t) {
  using A = AnalyzeOptions;
  const std::string g = "Top-down and conditional top-down (CTD)";
  t->push_back(Keyed(Text<A>("--boxes", g,
                             "top-down: JSON of boxes per frame number or image path ([x, y, w, h(, score)] lists), "
                             "instead of the model's detector",
                             "FILE", [](A& o) -> std::string& { return o.boxes_path; }),
                     "boxes"));
  OptionSpec<A> conditions = Keyed(Text<A>("--conditions", g,
                                           "CTD: condition poses per frame from DeepLabCut predictions (.h5, "
                                           "_assemblies.pickle, _full.pickle, or .json: a list per frame or a mapping "
                                           "from image path)",
                                           "FILE", [](A& o) -> std::string& { return o.conditions_path; }),
                                   "conditions");
  conditions.excludes = "conditions_model";
  t->push_back(conditions);
  t->push_back(ByModel(Text<A>("--conditions-model", g,
                               "CTD: a bottom-up model (export, snapshot or folder) whose poses are the conditions, "
                               "run in the same pipeline",
                               "MODEL", [](A& o) -> std::string& { return o.conditions_model_path; })));
  t->push_back(Keyed(Flag<A>("--ctd-tracking", g,
                             "CTD: track: each frame's poses are the next frame's conditions (DeepLabCut's "
                             "ctd_tracking); the conditions source starts the tracks and is rerun by DeepLabCut's "
                             "rules. Also writes <stem><scorer>_ctd.h5",
                             [](A& o) -> bool& { return o.ctd_tracking; }),
                     "ctd_tracking"));
  OptionSpec<A> settings = Row<A>("--ctd-tracking-config", g,
                                  "CTD tracking settings key=value,... with DeepLabCut's CTDTrackingConfig keys "
                                  "(bu_on_lost_idv, bu_min_frequency, bu_max_frequency, threshold_bu_add, "
                                  "threshold_ctd, threshold_nms) and stable_rows; implies --ctd-tracking");
  settings.value_name = "KEY=VALUE,...";
  settings.set = [](const std::string& v, A* o) {
    Status st = ParseCtdTrackingSettings(v, &o->tracking);
    if (st.ok()) o->ctd_tracking = true;
    return st;
  };
  settings.get = [](const A&) { return std::string(); };  // the settings are not kept as text
  t->push_back(Keyed(settings, "ctd_tracking", "bu_min_frequency=2"));
}

// Multi-animal tracking after inference: --no-track, then `posebatch track`'s settings less
// those analyze has already (--dest, --overwrite; the .csv follows --csv).
void AddTrackRows(OptionTable<AnalyzeOptions>* t) {
  OptionSpec<AnalyzeOptions> no_track =
      Row<AnalyzeOptions>("--no-track", "Tracking",
                          "multi-animal models: stop at the assemblies (DeepLabCut's auto_track=False); by default "
                          "tracklets and stitching follow, into the tracked <video><scorer>_el.h5");
  no_track.kind = OptionKind::kFlag;
  no_track.example = "true";
  no_track.set = [](const std::string& v, AnalyzeOptions* o) {
    bool given = false;
    Status st = ov::Bool(v, &given);
    if (st.ok()) o->auto_track = !given;
    return st;
  };
  no_track.get = [](const AnalyzeOptions& o) { return ov::BoolText(!o.auto_track); };
  t->push_back(std::move(no_track));
  for (auto& row : LiftOptions(TrackOptionTable(), &AnalyzeOptions::track)) {
    const std::string name = row.long_name();
    if (name == "--dest" || name == "--overwrite" || name == "--save-as-csv") continue;
    t->push_back(std::move(row));
  }
}

OptionTable<AnalyzeOptions> BuildAnalyzeTable() {
  OptionTable<AnalyzeOptions> t = LiftOptions(ModelOptionTable(), &AnalyzeOptions::model);
  AddOutputRows(&t);
  AddRangeRows(&t);
  AddPerformanceRows(&t);
  AddCropModeRows(&t);
  AddTrackRows(&t);
  return t;
}

OptionTable<FramePredictorOptions> BuildPredictorTable() {
  using P = FramePredictorOptions;
  const std::string g = "Predictor";
  OptionTable<P> t = LiftOptions(ModelOptionTable(), &P::model);
  t.push_back(IntValue<P>("--batch-size,-b", g, "frames (top-down: crops) per forward pass", 1, 4096,
                          [](P& o) -> int& { return o.batch_size; }));
  t.push_back(IntValue<P>("--detector-batch-size", g, "top-down: frames per detector pass; CTD: per conditions pass", 1,
                          4096, [](P& o) -> int& { return o.detector_batch_size; }));
  t.push_back(Threads<P>(g, [](P& o) -> int& { return o.intra_op_threads; }));
  t.push_back(Text<P>("--conditions-model", g, "CTD: the bottom-up model whose poses are the conditions", "MODEL",
                      [](P& o) -> std::string& { return o.conditions_model_path; }));
  return t;
}

OptionTable<ConvertOptions> BuildTrackletTable() {
  using C = ConvertOptions;
  const std::string g = "Tracking";
  OptionTable<C> t;
  t.push_back(Text<C>(
      "--inference-config", g,
      "the tracking settings, a DeepLabCut inference_cfg.yaml (default: the model folder's "
      "test/inference_cfg.yaml named by the _meta.pickle, else DeepLabCut's defaults)",
      "FILE", [](C& o) -> std::string& { return o.inference_config; }, true));
  t.push_back(Choice<C>("--track-method", g, "the tracker (default: the project's default_track_method, else ellipse)",
                        {"ellipse", "box", "skeleton"}, [](C& o) -> std::string& { return o.method; }));
  t.push_back(Flag<C>("--identity-only", g, "assign tracklets by the identity head's votes alone (identity models)",
                      [](C& o) -> bool& { return o.identity_only; }));
  t.push_back(Text<C>("--dest,-d", g, "output folder (default: beside the predictions)", "DIR",
                      [](C& o) -> std::string& { return o.dest_dir; }));
  t.push_back(Flag<C>("--overwrite", g, "redo a tracklet pickle that exists (default: keep it, as DeepLabCut)",
                      [](C& o) -> bool& { return o.overwrite; }));
  return t;
}

// --animal-names A,B,C: the names, in order.
template <typename O>
OptionSpec<O> Names(std::string names, std::string group, std::string help, Field<O, std::vector<std::string>> field) {
  OptionSpec<O> s = Row<O>(std::move(names), std::move(group), std::move(help));
  s.value_name = "A,B,...";
  s.example = "mouse1,mouse2";
  s.set = [field](const std::string& v, O* o) {
    std::vector<std::string>& out = field(*o);
    out.clear();
    size_t begin = 0;
    while (begin <= v.size()) {
      const size_t comma = std::min(v.find(',', begin), v.size());
      if (comma == begin) return Status::InvalidArgument("expected comma-separated names, got '" + v + "'");
      out.push_back(v.substr(begin, comma - begin));
      begin = comma + 1;
    }
    return Status::OK();
  };
  s.get = [field](const O& o) {
    std::string text;
    for (const std::string& n : field(const_cast<O&>(o))) text += (text.empty() ? "" : ",") + n;
    return text;
  };
  return s;
}

// The stitching rows every command with stitching shares (not the output folder).
OptionTable<StitchOptions> BuildStitchCoreTable() {
  using S = StitchOptions;
  const std::string g = "Tracking";
  OptionTable<S> t;
  t.push_back(IntValue<S>("--n-tracks", g, "tracks to build (default: one per animal name, the project's individuals)",
                          1, 100000, [](S& o) -> int& { return o.n_tracks; }));
  t.push_back(Names<S>("--animal-names", g, "the tracks' names (default: the project's individuals)",
                       [](S& o) -> std::vector<std::string>& { return o.animal_names; }));
  t.push_back(IntValue<S>("--min-length", g, "tracklets shorter than this are residuals, fitted in after stitching", 3,
                          1 << 30, [](S& o) -> int& { return o.min_length; }));
  t.push_back(IntValue<S>("--max-gap", g, "largest gap in frames a link bridges (default: 1.5 x the tracklets' own)", 1,
                          1 << 30, [](S& o) -> int& { return o.max_gap; }));
  OptionSpec<S> split = Flag<S>("--split-tracklets,!--no-split-tracklets", g,
                                "split tracklets where frames are missing (default); --no-split-tracklets: keep them",
                                [](S& o) -> bool& { return o.split_tracklets; });
  split.kind = OptionKind::kNegatable;
  split.example = "false";
  t.push_back(split);
  OptionSpec<S> prestitch = Flag<S>("--prestitch-residuals,!--no-prestitch-residuals", g,
                                    "chain nearby short tracklets before stitching (default)",
                                    [](S& o) -> bool& { return o.prestitch_residuals; });
  prestitch.kind = OptionKind::kNegatable;
  prestitch.example = "false";
  t.push_back(prestitch);
  t.push_back(
      Flag<S>("--save-as-csv", g, "also write the tracks as .csv", [](S& o) -> bool& { return o.save_as_csv; }));
  return t;
}

OptionTable<StitchOptions> BuildStitchTable() {
  using S = StitchOptions;
  OptionTable<S> t = BuildStitchCoreTable();
  t.push_back(Text<S>("--dest,-d", "Tracking", "output folder (default: beside the tracklets)", "DIR",
                      [](S& o) -> std::string& { return o.dest_dir; }));
  return t;
}

OptionTable<TrackOptions> BuildTrackTable() {
  OptionTable<TrackOptions> t = LiftOptions(TrackletOptionTable(), &TrackOptions::tracklets);
  for (auto& row : LiftOptions(BuildStitchCoreTable(), &TrackOptions::stitch)) t.push_back(std::move(row));
  return t;
}

}  // namespace

const OptionTable<StitchOptions>& StitchOptionTable() {
  static const OptionTable<StitchOptions> table = BuildStitchTable();
  return table;
}

const OptionTable<TrackOptions>& TrackOptionTable() {
  static const OptionTable<TrackOptions> table = BuildTrackTable();
  return table;
}

const OptionTable<ConvertOptions>& TrackletOptionTable() {
  static const OptionTable<ConvertOptions> table = BuildTrackletTable();
  return table;
}

const OptionTable<ModelLoadOptions>& ModelOptionTable() {
  static const OptionTable<ModelLoadOptions> table = BuildModelTable();
  return table;
}

const OptionTable<LabeledVideoOptions>& DrawingOptionTable() {
  static const OptionTable<LabeledVideoOptions> table = BuildDrawingTable();
  return table;
}

const OptionTable<AnalyzeOptions>& AnalyzeOptionTable() {
  static const OptionTable<AnalyzeOptions> table = BuildAnalyzeTable();
  return table;
}

const OptionTable<FramePredictorOptions>& PredictorOptionTable() {
  static const OptionTable<FramePredictorOptions> table = BuildPredictorTable();
  return table;
}

}  // namespace posebatch
