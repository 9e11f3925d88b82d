// Threads of a top-down or conditional top-down (CTD) run, and how they meet:
//
//   decode ─frames─▶ cue preprocess ─▶ cue slots ─▶ cue inference (detector / BU model) ─┐
//      └────────────── (boxes or conditions given: frames go straight on) ───────────────┤
//                                                                   frames with cues (in order)
//   writer ◀─plans (frame order)─ crop stage ─crops─▶ pose slots ─▶ pose inference ─crop poses─▶ writer
//
// CTD differs only in the cues (condition poses, not boxes), the crops (DeepLabCut's CTD
// preparation: filtering, boxes from the conditions, conditions in crop pixels, written into a
// (B, K, 3) conditions tensor beside each pose slot), the pose network (conditions passed
// with the batch, SimCC) and the mapping back (CTD rescoring).
//
// A decoded frame is held (not copied) until its crops are written, then returns to the pool
// of frame buffers: that pool, the two slot pools and the bounded queues bound memory. Both
// inference stages run on the process's one InferenceThread, so they take turns on the cores.
//
// CTD tracking (RunContext::ctd_tracking): a frame's conditions are the previous frame's CTD
// poses, so the step from conditions to poses is serial. Decode still runs ahead and the writer
// behind; the crop stage becomes the tracker: per frame, the conditions source (bottom-up model
// at batch 1, or the file) when the tracker asks for it, the crops, the CTD model on them, and
// the tracker's update, before the next frame.
#include "pipeline/topdown_pipeline.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "common/stopwatch.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/frame_cues.h"
#include "pipeline/inference_thread.h"
#include "pipeline/run_common.h"
#include "pipeline/slot_pool.h"
#include "pipeline/stage_common.h"
#include "posebatch/conditional_network.h"
#include "posebatch/predictor.h"
#include "predict/ctd_tracking.h"
#include "predict/simcc_predictor.h"
#include "predict/topdown_postprocess.h"
#include "preprocess/ctd_conditions.h"
#include "preprocess/normalize.h"
#include "preprocess/topdown_crop.h"

namespace posebatch {
namespace {

// A frame whose boxes (or conditions) are known, on its way to the crop stage.
struct DetectedFrame {
  Frame* frame = nullptr;
  FrameCues cues;
};

// What the writer needs for a frame: its number/label and how many crop results to collect.
struct FramePlan {
  RowRecord record;
  int crops = 0;
  std::vector<CropTransform> transforms;
  std::vector<float> boxes, scores;  // the cropped boxes (x, y, w, h) and their scores, for the writer
  std::vector<CtdCrop> ctd;          // CTD: each crop's conditions and condition score (rescoring)
  at::Tensor poses;                  // CTD tracking: the frame's poses, final (no crops to wait for)
};

// Pose of one crop, in crop pixels: K x 3.
using CropPose = std::vector<float>;

class TopDownRun {
 public:
  TopDownRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
             const PreprocessOptions& preprocess, const RunContext& context)
      : model_(model),
        source_(source),
        writer_(writer),
        options_(options),
        preprocess_(preprocess),
        context_(context),
        ctd_(model.spec.method == Method::kConditionalTopDown),
        tracking_(context.ctd_tracking != nullptr),
        cues_(MakeCues(model, context)),
        detector_normalizer_(cues_ != nullptr ? cues_->input() : model.spec.input),
        cropper_(model.spec.input),
        crop_spec_(model.spec.crop),
        det_pool_(std::max(1, options.num_slots), std::max(1, options.detector_batch_size),
                  cues_ != nullptr ? cues_->layout() : InputLayout::kNCHW),
        pose_pool_(std::max(1, options.num_slots), options.batch_size, model.network->input_layout(),
                   options.pin_memory),
        det_frames_(static_cast<size_t>(std::max(1, options.num_slots))),
        name_(source.info().path) {
    if (preprocess.crop.enabled()) {
      throw Error(Status::InvalidArgument("--crop is not supported with top-down models yet"));
    }
    individuals_ = static_cast<int64_t>(std::max<size_t>(1, model.spec.individuals.size()));
    keypoints_ = static_cast<int64_t>(model.spec.bodyparts.size());
    if (tracking_ && !ctd_) {
      throw Error(Status::InvalidArgument(model.path + ": tracking applies to conditional top-down (CTD) models"));
    }
    if (ctd_) SetUpConditionalPose();
    if (tracking_) tracker_ = std::make_unique<CtdTracker>(*context.ctd_tracking);
    num_columns_ = static_cast<size_t>(individuals_ * keypoints_ * 3);
    row_values_.resize(num_columns_);
    rows_ = std::make_unique<TimelineWriter>(writer, source.info(), num_columns_, context);
    for (auto& v : det_frames_) v.resize(static_cast<size_t>(std::max(1, options.detector_batch_size)));
    // Frames in flight: those in detector slots, plus the decode/crop queues' worth.
    const int det_rows = std::max(1, options.num_slots) * std::max(1, options.detector_batch_size);
    frames_.resize(static_cast<size_t>(det_rows + std::max(1, options.decoded_frames) + 2));
    // A plan waits for its crops while later frames' plans queue up behind it: the crop stage
    // closes a partial pose batch before that many frames pass (see CropFrame).
    plan_capacity_ = std::max<int64_t>(16, 2 * static_cast<int64_t>(options.batch_size) + 8);
  }

  Status Execute(RunStats* stats) {
    Stopwatch wall;
    Run();
    if (!latch_.failed()) {
      try {
        rows_->Finish(stream_end_);
      } catch (...) {
        latch_.Fail(StatusFromCurrentException(), [] {});
      }
    }
    if (stats != nullptr) {
      rows_->FillStats(stats);
      stats->stream = stream_end_;
      stats->batches = batches_run_;
      stats->crops = crops_written_;
      stats->source_runs = tracker_ != nullptr ? tracker_->source_runs() : -1;
      stats->wall_seconds = wall.Seconds();
      stats->busy = times_;
    }
    return latch_.failed() ? latch_.status() : Status::OK();
  }

 private:
  // Where a frame's boxes or conditions come from: given per frame (context), or a model.
  static std::unique_ptr<CueModel> MakeCues(Model& model, const RunContext& context) {
    if (model.spec.method == Method::kConditionalTopDown) {
      if (context.conditions != nullptr) return nullptr;
      if (context.conditions_model == nullptr) {
        throw Error(Status::InvalidArgument(model.path + ": a CTD model needs conditions: a predictions file "
                                            "(--conditions) or a bottom-up model (--conditions-model)"));
      }
      return MakeBottomUpConditionCues(*context.conditions_model,
                                       static_cast<int64_t>(model.spec.bodyparts.size()));
    }
    if (context.boxes != nullptr) return nullptr;
    if (model.detector == nullptr) {
      throw Error(Status::InvalidArgument(model.path + ": a top-down model needs a detector (the export has none) "
                                          "or boxes given with --boxes"));
    }
    return MakeDetectorCues(*model.detector);
  }

  void SetUpConditionalPose() {
    conditional_ = dynamic_cast<ConditionalNetwork*>(model_.network.get());
    if (conditional_ == nullptr) throw Error(Status::InvalidArgument(model_.path + ": not a conditional network"));
    bbox_margin_ = model_.spec.bbox_margin;
    // RTMPose variants decode SimCC vectors; the HRNet variants (ctd_prenet_hrnet_w32/w48) have a
    // top-down HeatmapHead, decoded as top-down heatmaps are.
    simcc_head_ = model_.spec.predictor == PredictorType::kSimCC;
    if (simcc_head_) simcc_ = model_.spec.simcc;
    if (conditional_->num_conditions() != keypoints_) {
      throw Error(Status::ModelError(model_.path + ": the network takes " +
                                     std::to_string(conditional_->num_conditions()) + " condition keypoints, the config has " +
                                     std::to_string(keypoints_) + " bodyparts"));
    }
    for (int s = 0; s < std::max(1, options_.num_slots); ++s) {
      slot_conditions_.push_back(at::zeros({options_.batch_size, keypoints_, 3}, at::kFloat));
    }
  }

  bool CancelRequested() const { return context_.StopRequested(); }

  // ---- crop stage (one thread) ------------------------------------------------------------

  void ClosePoseBatch() {
    if (open_pose_ == nullptr) return;
    pose_pool_.Close(open_pose_);
    open_pose_ = nullptr;
    ++next_pose_batch_;
  }

  // Plans the frame's crops, hands the plan to the writer, writes each crop into a pose slot
  // row. Returns false if cancelled.
  bool CropFrame(const DetectedFrame& d, BoundedQueue<FramePlan>& plans) {
    const Frame& frame = *d.frame;
    FramePlan plan;
    plan.record.index = frame.index;
    plan.record.label = frame.label;
    std::vector<CropPlan> crops;
    std::vector<std::vector<float>> conditions;  // CTD: per crop, K x 3 in crop pixels
    if (ctd_) {
      PlanCtdCrops(frame, d.cues.conditions, &plan, &crops, &conditions);
    } else {
      PlanBoxCrops(d, &plan, &crops);
    }
    // The writer waits for this plan's crops; if a partial pose batch holds crops of frames
    // the writer is waiting on, close it before the plans queue could fill up behind it.
    if (open_pose_ != nullptr && ++frames_since_open_ >= plan_capacity_ / 2) ClosePoseBatch();
    if (!plans.Push(std::move(plan))) return false;
    ScopedTimer t(&crop_seconds_);
    for (size_t i = 0; i < crops.size(); ++i) {
      const CropPlan& c = crops[i];
      const InputGeometry g = CropGeometry(c);
      if (open_pose_ != nullptr && open_pose_->geometry != g) ClosePoseBatch();
      if (open_pose_ == nullptr) {
        open_pose_ = pose_pool_.Acquire(next_pose_batch_, g);
        if (open_pose_ == nullptr) return false;
        frames_since_open_ = 0;
      }
      WriteCrop(frame, c, ctd_ ? conditions[i] : std::vector<float>(), g);
      if (open_pose_->rows_assigned == pose_pool_.batch_size()) ClosePoseBatch();
    }
    return true;
  }

  // A pose slot row holds one crop, unscaled: batches are of one crop size.
  static InputGeometry CropGeometry(const CropPlan& c) {
    InputGeometry g;
    g.src_w = g.width = c.out_w;
    g.src_h = g.height = c.out_h;
    return g;
  }

  // One crop into the next row of the open pose batch (CTD: its conditions beside it).
  void WriteCrop(const Frame& frame, const CropPlan& c, const std::vector<float>& conditions, const InputGeometry& g) {
    const int row = pose_pool_.AssignRow(open_pose_, RowRecord{frame.index, frame.label, g});
    try {
      cropper_.Write(frame, c, open_pose_->RowData(row), open_pose_->layout);
    } catch (...) {
      throw Error(WithContext(StatusFromCurrentException(),
                              "crop of frame " + std::to_string(frame.index) + " of " + name_));
    }
    if (ctd_) {
      float* dst = SlotConditions(next_pose_batch_).data_ptr<float>() + row * keypoints_ * 3;
      std::copy(conditions.begin(), conditions.end(), dst);
    }
    pose_pool_.RowFilled(open_pose_);
    ++crops_written_;
  }

  // ---- tracker (CTD tracking: the crop stage's thread) --------------------------------------

  // Conditions from the source for one frame: the file's, or the bottom-up model's on a batch
  // of this one frame. Undefined if cancelled.
  at::Tensor SourceConditions(const Frame& frame) {
    if (cues_ == nullptr) return context_.conditions->ConditionsFor(frame.index, frame.label);
    const InputGeometry g = ComputeGeometry(frame.width, frame.height, preprocess_, cues_->input(),
                                            frame.label.empty() ? name_ : frame.label);
    const int64_t batch = next_source_batch_++;
    BatchSlot* slot = det_pool_.Acquire(batch, g);
    if (slot == nullptr) return at::Tensor();
    const int row = det_pool_.AssignRow(slot, RowRecord{frame.index, frame.label, g});
    {
      ScopedTimer t(&det_times_.preprocess);
      detector_normalizer_.Write(frame, slot->geometry, slot->RowData(row), slot->layout);
    }
    det_pool_.RowFilled(slot);
    det_pool_.Close(slot);
    slot = det_pool_.WaitReady(batch);
    if (slot == nullptr) return at::Tensor();
    std::vector<FrameCues> found = Detect(slot);
    det_pool_.Release(slot);
    return found.front().conditions;
  }

  // Runs the open pose batch now and appends its crop poses to `out`.
  bool RunOpenPoseBatch(std::vector<CropPose>* out) {
    if (open_pose_ == nullptr) return true;
    const int64_t batch = next_pose_batch_;
    ClosePoseBatch();
    BatchSlot* slot = pose_pool_.WaitReady(batch);
    if (slot == nullptr) return false;
    std::vector<CropPose> poses = Pose(slot);
    pose_pool_.Release(slot);
    for (auto& p : poses) out->push_back(std::move(p));
    return true;
  }

  // One frame of CTD tracking: conditions (tracks, merged with the source when it runs), the
  // frame's crops through the CTD model (batches of this frame's crops only), the tracker's
  // update; the plan carries the final poses to the writer. Returns false if cancelled.
  bool TrackFrame(const DetectedFrame& d, BoundedQueue<FramePlan>& plans) {
    const Frame& frame = *d.frame;
    at::Tensor source;
    if (tracker_->BeginFrame()) {
      source = SourceConditions(frame);
      if (!source.defined()) return false;
    }
    FramePlan plan;
    plan.record.index = frame.index;
    plan.record.label = frame.label;
    std::vector<CropPlan> crops;
    std::vector<std::vector<float>> conditions;
    PlanCtdCrops(frame, tracker_->Conditions(source), &plan, &crops, &conditions);
    std::vector<CropPose> poses;
    for (size_t i = 0; i < crops.size(); ++i) {
      const InputGeometry g = CropGeometry(crops[i]);
      if (open_pose_ != nullptr && open_pose_->geometry != g && !RunOpenPoseBatch(&poses)) return false;
      if (open_pose_ == nullptr) {
        open_pose_ = pose_pool_.Acquire(next_pose_batch_, g);
        if (open_pose_ == nullptr) return false;
      }
      {
        ScopedTimer t(&crop_seconds_);
        WriteCrop(frame, crops[i], conditions[i], g);
      }
      if (open_pose_->rows_assigned == pose_pool_.batch_size() && !RunOpenPoseBatch(&poses)) return false;
    }
    if (!RunOpenPoseBatch(&poses)) return false;
    {
      ScopedTimer t(&times_.postprocess);
      plan.poses = tracker_->EndFrame(FramePoses(plan, poses, tracker_->rescore()), frame.width, frame.height);
    }
    return plans.Push(std::move(plan));
  }

  at::Tensor& SlotConditions(int64_t batch) { return slot_conditions_[static_cast<size_t>(batch % slot_conditions_.size())]; }

  // CTD: DeepLabCut's preparation of the frame's conditions (filtering, boxes, crops).
  void PlanCtdCrops(const Frame& frame, const at::Tensor& given, FramePlan* plan, std::vector<CropPlan>* crops,
                    std::vector<std::vector<float>>* conditions) {
    if (!given.defined() || given.size(0) == 0) return;
    if (given.dim() != 3 || given.size(1) != keypoints_ || given.size(2) != 3) {
      throw Error(Status::InvalidArgument("conditions for frame " + std::to_string(frame.index) + " of " + name_ +
                                          " are not (n, " + std::to_string(keypoints_) + ", 3)"));
    }
    const at::Tensor c = given.to(at::kFloat).contiguous();
    plan->ctd = PrepareCtdCrops(c.data_ptr<float>(), c.size(0), keypoints_, frame.width, frame.height, bbox_margin_,
                                crop_spec_);
    plan->crops = static_cast<int>(plan->ctd.size());
    for (const CtdCrop& crop : plan->ctd) {
      crops->push_back(crop.plan);
      conditions->push_back(crop.conditions);
      plan->transforms.push_back(crop.plan.transform);
      for (double v : crop.box) plan->boxes.push_back(static_cast<float>(v));
      plan->scores.push_back(0.f);  // CTD boxes have no score (the writers leave it out)
    }
  }

  // Top-down: a crop per box (with context, as DeepLabCut's top_down_crop).
  void PlanBoxCrops(const DetectedFrame& d, FramePlan* plan, std::vector<CropPlan>* crops) {
    const Frame& frame = *d.frame;
    const Detections& detections = d.cues.detections;
    const int64_t n = detections.boxes.defined() ? detections.boxes.size(0) : 0;
    std::vector<bool> kept(static_cast<size_t>(n), false);
    if (n > 0) {
      const at::Tensor boxes = detections.boxes.to(at::kDouble).contiguous();
      const double* b = boxes.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) {
        try {
          crops->push_back(PlanTopDownCrop({b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]}, frame.width,
                                           frame.height, crop_spec_));
          kept[static_cast<size_t>(i)] = true;
        } catch (const Error&) {
          continue;  // a box that leaves nothing to crop (DeepLabCut drops it too)
        }
      }
    }
    plan->crops = static_cast<int>(crops->size());
    if (n > 0) {
      const at::Tensor boxes = detections.boxes.to(at::kFloat).contiguous();
      const at::Tensor scores = detections.scores.to(at::kFloat).contiguous();
      for (int64_t i = 0; i < n; ++i) {
        if (!kept[static_cast<size_t>(i)]) continue;
        plan->boxes.insert(plan->boxes.end(), boxes.data_ptr<float>() + i * 4, boxes.data_ptr<float>() + i * 4 + 4);
        plan->scores.push_back(i < scores.numel() ? scores.data_ptr<float>()[i] : 1.0f);
      }
    }
    for (const auto& c : *crops) plan->transforms.push_back(c.transform);
  }

  // The plan's crop poses (K x 3 each, crop pixels) mapped to the frame: (rows, K, 3) float32,
  // contiguous, -1 rows for absent individuals; CTD rescored unless `rescore` is false.
  at::Tensor FramePoses(const FramePlan& plan, const std::vector<CropPose>& poses, bool rescore) const {
    at::Tensor crops = at::empty({plan.crops, keypoints_, 3}, at::kFloat);
    for (int i = 0; i < plan.crops; ++i)
      std::copy(poses[i].begin(), poses[i].end(), crops.data_ptr<float>() + i * keypoints_ * 3);
    const int individuals = static_cast<int>(individuals_);
    return (ctd_ ? CtdFramePoses(crops, plan.ctd, individuals, rescore)
                 : TopDownFramePoses(crops, plan.transforms, individuals))
        .contiguous();
  }

  // ---- writer (one thread) ------------------------------------------------------------------

  // Gathers the plan's crop poses, maps them to the frame, writes the row.
  bool WriteFrame(const FramePlan& plan, BoundedQueue<CropPose>& crop_poses) {
    std::vector<CropPose> poses(static_cast<size_t>(plan.poses.defined() ? 0 : plan.crops));
    for (auto& p : poses)
      if (!crop_poses.Pop(&p)) return false;
    ScopedTimer t(&times_.write);
    const at::Tensor frame_poses = plan.poses.defined() ? plan.poses : FramePoses(plan, poses, /*rescore=*/true);
    // DeepLabCut's DataFrame keeps the first `individuals` rows (boxes come best first).
    const float* p = frame_poses.data_ptr<float>();
    const size_t have = std::min(num_columns_, static_cast<size_t>(frame_poses.numel()));
    std::copy(p, p + have, row_values_.begin());
    std::fill(row_values_.begin() + static_cast<std::ptrdiff_t>(have), row_values_.end(), -1.0f);
    rows_->Append(plan.record, row_values_.data(), &plan.boxes, &plan.scores);
    if (rows_->frames_written() % 8 == 0) rows_->ReportProgress();
    return true;
  }

  // ---- inference ----------------------------------------------------------------------------

  // The detector (boxes) or bottom-up model (conditions) on a batch of frames.
  std::vector<FrameCues> Detect(BatchSlot* slot) {
    std::vector<FrameCues> out;
    ScopedTimer t(&det_times_.inference);
    try {
      const at::Tensor input = slot->Input();
      InferenceThread::Get().Run(options_.intra_op_threads, [&] { out = cues_->Run(input); });
    } catch (...) {
      throw Error(WithContext(StatusFromCurrentException(StatusCode::kModelError),
                              cues_->what() + " on frames " + std::to_string(slot->records.front().index) + ".." +
                                  std::to_string(slot->records.back().index) + " of " + name_));
    }
    if (static_cast<int>(out.size()) != slot->rows_assigned) {
      throw Error(Status::ModelError(cues_->what() + " returned " + std::to_string(out.size()) + " results for " +
                                     std::to_string(slot->rows_assigned) + " images"));
    }
    return out;
  }

  // The pose network on a batch of crops (CTD: with each crop's conditions).
  HeadOutputs Forward(BatchSlot* slot) {
    HeadOutputs outputs;
    const at::Tensor input = slot->Input();
    if (ctd_) {
      const at::Tensor conditions = SlotConditions(slot->batch_id).narrow(0, 0, slot->rows_assigned);
      InferenceThread::Get().Run(options_.intra_op_threads,
                                 [&] { outputs = conditional_->Forward(input, conditions); });
      if (!simcc_head_) {
        ValidateHeatmapOutputs(outputs, model_.spec.pose_head, slot->rows_assigned);
        return outputs;
      }
      for (const char* name : {"x", "y"}) {
        auto head = outputs.find(model_.spec.pose_head.name);
        if (head == outputs.end() || head->second.count(name) == 0) {
          throw Error(Status::ModelError("CTD network output has no " + model_.spec.pose_head.name + "/" + name));
        }
      }
    } else {
      InferenceThread::Get().Run(options_.intra_op_threads, [&] { outputs = model_.network->Forward(input); });
      ValidateHeatmapOutputs(outputs, model_.spec.pose_head, slot->rows_assigned);
    }
    return outputs;
  }

  // Pose on a batch of crops: K x 3 per crop, in crop pixels.
  std::vector<CropPose> Pose(BatchSlot* slot) {
    HeadOutputs outputs;
    const int rows = slot->rows_assigned;
    {
      ScopedTimer t(&times_.inference);
      try {
        outputs = Forward(slot);
      } catch (...) {
        throw Error(WithContext(StatusFromCurrentException(StatusCode::kModelError),
                                "pose inference on crops of frames " + std::to_string(slot->records.front().index) +
                                    ".." + std::to_string(slot->records.back().index) + " of " + name_));
      }
    }
    ++batches_run_;
    ScopedTimer t(&times_.postprocess);
    const auto& head = model_.spec.pose_head;
    const auto& outs = outputs.at(head.name);
    at::Tensor poses;
    if (ctd_ && simcc_head_) {
      poses = PredictSimCCPoses(outs.at("x"), outs.at("y"), simcc_).contiguous();
    } else {
      auto lr = outs.find("locref");
      poses = PredictHeatmapPoses(outs.at("heatmap"), lr == outs.end() ? at::Tensor() : lr->second, head).contiguous();
    }
    std::vector<CropPose> result(static_cast<size_t>(rows));
    const float* p = poses.data_ptr<float>();
    for (int r = 0; r < rows; ++r) result[r].assign(p + r * keypoints_ * 3, p + (r + 1) * keypoints_ * 3);
    return result;
  }

  // ---- threads ------------------------------------------------------------------------------

  void Run() {
    BoundedQueue<Frame*> free_frames(frames_.size());
    for (auto& f : frames_) free_frames.Push(&f);
    struct DetJob {
      Frame* frame;
      BatchSlot* slot;
      int row;
    };
    BoundedQueue<DetJob> det_jobs(static_cast<size_t>(std::max(1, options_.decoded_frames)));
    BoundedQueue<DetectedFrame> detected(static_cast<size_t>(std::max(1, options_.decoded_frames)));
    BoundedQueue<FramePlan> plans(static_cast<size_t>(plan_capacity_));
    BoundedQueue<CropPose> crop_poses(static_cast<size_t>(2 * options_.batch_size + 1));
    auto cancel_all = [&] {
      det_pool_.Cancel();
      pose_pool_.Cancel();
      free_frames.Cancel();
      det_jobs.Cancel();
      detected.Cancel();
      plans.Cancel();
      crop_poses.Cancel();
    };
    StageThreads threads(latch_, cancel_all);

    // Decode: frames to the detector's slots, or with their given boxes straight to cropping.
    threads.Start([&] {
      LowerThreadPriority(options_.feeder_niceness);
      BatchSlot* open = nullptr;
      int64_t next_batch = 0;
      auto close = [&] {
        if (open == nullptr) return;
        det_pool_.Close(open);
        open = nullptr;
        ++next_batch;
      };
      while (true) {
        if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
        Frame* frame = nullptr;
        if (!free_frames.Pop(&frame)) return;
        bool more;
        {
          ScopedTimer t(&times_.decode);
          try {
            more = source_.Next(frame);
            if (!more) stream_end_ = source_.End();
          } catch (...) {
            throw Error(WithContext(StatusFromCurrentException(StatusCode::kCorrupt), "decode of " + name_));
          }
        }
        if (!more) break;
        if (cues_ == nullptr || tracking_) {
          DetectedFrame d;
          d.frame = frame;
          // (The tracker looks conditions up itself, on the frames it needs them for.)
          if (ctd_ && !tracking_) {
            d.cues.conditions = context_.conditions->ConditionsFor(frame->index, frame->label);
          } else if (!ctd_) {
            d.cues.detections = context_.boxes->BoxesFor(frame->index, frame->label);
          }
          if (!detected.Push(std::move(d))) return;
          continue;
        }
        InputGeometry g = ComputeGeometry(frame->width, frame->height, preprocess_, cues_->input(),
                                          frame->label.empty() ? name_ : frame->label);
        if (open != nullptr && open->geometry != g) close();
        if (open == nullptr) {
          open = det_pool_.Acquire(next_batch, g);
          if (open == nullptr) return;
        }
        const int row = det_pool_.AssignRow(open, RowRecord{frame->index, frame->label, g});
        det_frames_[static_cast<size_t>(next_batch % det_frames_.size())][static_cast<size_t>(row)] = frame;
        if (!det_jobs.Push(DetJob{frame, open, row})) return;
        if (row + 1 == det_pool_.batch_size()) close();
      }
      if (cues_ == nullptr || tracking_) {
        detected.Close();
      } else {
        close();
        det_pool_.SetTotalBatches(next_batch);
        det_jobs.Close();
      }
    });

    if (cues_ != nullptr && !tracking_) {
      threads.Start([&] {  // detector preprocess
        LowerThreadPriority(options_.feeder_niceness);
        DetJob job;
        double busy = 0;
        while (det_jobs.Pop(&job)) {
          ScopedTimer t(&busy);
          detector_normalizer_.Write(*job.frame, job.slot->geometry, job.slot->RowData(job.row), job.slot->layout);
          det_pool_.RowFilled(job.slot);
        }
        det_times_.preprocess += busy;
      });
      threads.Start([&] {  // detector inference
        for (int64_t b = 0;; ++b) {
          BatchSlot* slot;
          {
            ScopedTimer t(&det_times_.inference_wait);
            slot = det_pool_.WaitReady(b);
          }
          if (slot == nullptr) break;
          if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
          std::vector<FrameCues> found = Detect(slot);
          const int rows = slot->rows_assigned;
          // Copied before the release: the decoder refills this slot's row table right after.
          const std::vector<Frame*> frames = det_frames_[static_cast<size_t>(b % det_frames_.size())];
          det_pool_.Release(slot);
          for (int r = 0; r < rows; ++r) {
            if (!detected.Push(DetectedFrame{frames[static_cast<size_t>(r)], std::move(found[r])})) return;
          }
        }
        detected.Close();
      });
    }

    threads.Start([&] {  // crop stage
      LowerThreadPriority(options_.feeder_niceness);
      DetectedFrame d;
      while (detected.Pop(&d)) {
        if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
        if (!(tracking_ ? TrackFrame(d, plans) : CropFrame(d, plans))) return;
        free_frames.Push(d.frame);
      }
      ClosePoseBatch();
      pose_pool_.SetTotalBatches(next_pose_batch_);
      plans.Close();
    });

    if (!tracking_) threads.Start([&] {  // pose inference
      for (int64_t b = 0;; ++b) {
        BatchSlot* slot;
        {
          ScopedTimer t(&times_.inference_wait);
          slot = pose_pool_.WaitReady(b);
        }
        if (slot == nullptr) break;
        if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
        std::vector<CropPose> poses = Pose(slot);
        pose_pool_.Release(slot);
        for (auto& p : poses)
          if (!crop_poses.Push(std::move(p))) return;
      }
      crop_poses.Close();
    });

    threads.Start([&] {  // writer
      FramePlan plan;
      while (plans.Pop(&plan))
        if (!WriteFrame(plan, crop_poses)) return;
    });

    threads.JoinAll();
    // Each stage timed into its own counters; summed once every thread has joined.
    times_.preprocess += det_times_.preprocess + crop_seconds_;
    times_.inference += det_times_.inference;
    times_.inference_wait += det_times_.inference_wait;
  }

  Model& model_;
  FrameSource& source_;
  PoseWriter& writer_;
  PipelineOptions options_;
  PreprocessOptions preprocess_;
  const RunContext& context_;
  bool ctd_ = false;                 // conditional top-down
  bool tracking_ = false;            // CTD tracking: the crop stage is the tracker
  std::unique_ptr<CtdTracker> tracker_;
  int64_t next_source_batch_ = 0;    // tracker: batches of the conditions model
  std::unique_ptr<CueModel> cues_;   // detector or conditions model; null when cues are given
  Normalizer detector_normalizer_;   // frames for cues_
  // CTD only.
  ConditionalNetwork* conditional_ = nullptr;
  bool simcc_head_ = true;  // false: a HeatmapHead (HRNet variants)
  SimCCPredictorSpec simcc_;
  double bbox_margin_ = 20;
  std::vector<at::Tensor> slot_conditions_;  // (B, K, 3) beside each pose slot, by batch % slots
  TopDownCropper cropper_;
  TopDownCropSpec crop_spec_;
  SlotPool det_pool_;
  SlotPool pose_pool_;
  std::vector<std::vector<Frame*>> det_frames_;  // frame of each detector slot row, by batch % slots
  std::vector<Frame> frames_;
  std::string name_;
  FailureLatch latch_;
  StageTimes times_;      // decode (decoder), pose inference, postprocess, write
  StageTimes det_times_;  // detector preprocess and inference
  double crop_seconds_ = 0;  // crop stage
  int64_t individuals_ = 1, keypoints_ = 0;
  size_t num_columns_ = 0;
  int64_t plan_capacity_ = 16;
  // Crop stage (one thread).
  BatchSlot* open_pose_ = nullptr;
  int64_t next_pose_batch_ = 0;
  int64_t frames_since_open_ = 0;
  int64_t crops_written_ = 0;
  // Writer (one thread).
  std::vector<float> row_values_;     // the frame's row being assembled
  std::unique_ptr<TimelineWriter> rows_;
  // Pose inference (one thread).
  int64_t batches_run_ = 0;
  StreamEnd stream_end_;  // set by decode at the end of the stream
};

}  // namespace

Status RunTopDownPipeline(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
                          const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  try {
    TopDownRun run(model, source, writer, options, preprocess, context);
    return run.Execute(stats);
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace posebatch
