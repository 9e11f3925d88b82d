#include "pipeline/runs/crop_run.h"

#include <algorithm>

#include "pipeline/kit/stage_threads.h"

namespace posebatch {
namespace {

// A pose slot row holds one crop, unscaled: batches are of one crop size.
InputGeometry CropGeometry(const CropPlan& c) {
  InputGeometry g;
  g.src_w = g.width = c.out_w;
  g.src_h = g.height = c.out_h;
  return g;
}

}  // namespace

CropRun::CropRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
                 const PreprocessOptions& preprocess, const RunContext& context, std::unique_ptr<CueModel> cue_model)
    : model_(model),
      options_(options),
      preprocess_(preprocess),
      context_(context),
      name_(source.info().path),
      individuals_(static_cast<int64_t>(std::max<size_t>(1, model.spec.individuals.size()))),
      keypoints_(static_cast<int64_t>(model.spec.bodyparts.size())),
      crop_spec_(model.spec.crop),
      tracking_(context.ctd_tracking != nullptr),
      pose_slots_(options.async ? std::max(1, options.num_slots) : 1),
      cropper_(model.spec.input),
      decoder_(model.spec),
      pose_pool_(pose_slots_, options.batch_size, model.network->input_layout(), options.pin_memory),
      decode_(source, &times_.decode),
      pose_inference_(pose_pool_, context, &times_.inference_wait),
      pose_batcher_(pose_pool_, [this](int64_t closed) { OnPoseBatchClosed(closed); }),
      num_columns_(static_cast<size_t>(individuals_ * keypoints_ * 3)),
      // A plan waits for its crops while later frames' plans queue up behind it: the crop stage
      // closes a partial pose batch before that many frames pass (see CropFrame).
      plan_capacity_(std::max<int64_t>(16, 2 * static_cast<int64_t>(options.batch_size) + 8)),
      plans_(static_cast<size_t>(plan_capacity_)),
      crop_poses_(static_cast<size_t>(2 * options.batch_size + 1)),
      row_values_(num_columns_),
      rows_(writer, source.info(), num_columns_, context) {
  if (cue_model != nullptr) {
    CueStage::Sink sink;
    if (!options.async && !tracking_) {
      sink = [this](DetectedFrame d) {
        if (!CropStage(d)) return false;
        free_frames_.push_back(d.frame);
        return true;
      };
    }
    cues_ = std::make_unique<CueStage>(std::move(cue_model), options, preprocess, context, name_, std::move(sink));
  }
  // Frames in flight: those in cue slots, plus the decode/crop queues' worth.
  const int cue_rows = std::max(1, options.num_slots) * std::max(1, options.detector_batch_size);
  frames_.resize(static_cast<size_t>(cue_rows + std::max(1, options.decoded_frames) + 2));
}

Status CropRun::Execute(RunStats* stats) {
  Stopwatch wall;
  if (options_.async) {
    RunThreaded();
  } else {
    RunInTurn(latch_, [this] { RunSequential(); });
  }
  if (!latch_.failed()) {
    try {
      rows_.Finish(decode_.end());
    } catch (...) {
      latch_.FailWithCurrentException();
    }
  }
  // Each stage timed into its own counters; summed once every stage has finished.
  times_.preprocess += crop_seconds_;
  if (cues_ != nullptr) {
    times_.preprocess += cues_->times().preprocess;
    times_.inference += cues_->times().inference;
    times_.inference_wait += cues_->times().inference_wait;
  }
  if (stats != nullptr) {
    rows_.FillStats(stats);
    stats->stream = decode_.end();
    stats->batches = batches_run_;
    stats->crops = crops_written_;
    stats->source_runs = -1;
    AddStats(stats);
    stats->wall_seconds = wall.Seconds();
    stats->busy = times_;
  }
  return latch_.failed() ? latch_.status() : Status::OK();
}

// ---- crop stage --------------------------------------------------------------------------------

bool CropRun::CropStage(const DetectedFrame& d) { return CropFrame(*d.frame, d.cues); }

bool CropRun::CropFrame(const Frame& frame, const FrameCues& cues) {
  FramePlan plan;
  plan.record.index = frame.index;
  plan.record.label = frame.label;
  FrameCrops crops;
  PlanCrops(frame, cues, &plan, &crops);
  // The writer waits for this plan's crops; if a partial pose batch holds crops of frames
  // the writer is waiting on, close it before the plans queue could fill up behind it.
  if (pose_batcher_.open() && ++frames_since_open_ >= plan_capacity_ / 2) pose_batcher_.Close();
  if (!EmitPlan(std::move(plan))) return false;
  for (size_t i = 0; i < crops.plans.size(); ++i) {
    if (!AddCrop(frame, crops.plans[i], crops.conditions.empty() ? nullptr : &crops.conditions[i])) return false;
  }
  return true;
}

bool CropRun::AddCrop(const Frame& frame, const CropPlan& crop, const std::vector<float>* conditions) {
  Batcher::Row row;
  if (!pose_batcher_.Add(RowRecord{frame.index, frame.label, CropGeometry(crop)}, &row)) return false;
  if (row.opened) frames_since_open_ = 0;
  {
    ScopedTimer t(&crop_seconds_);
    try {
      cropper_.Write(frame, crop, row.slot->RowData(row.row), row.slot->layout);
    } catch (...) {
      throw Error(
          WithContext(StatusFromCurrentException(), "crop of frame " + std::to_string(frame.index) + " of " + name_));
    }
    if (conditions != nullptr) WriteConditions(row.slot->batch_id, row.row, *conditions);
  }
  pose_pool_.RowFilled(row.slot);
  ++crops_written_;
  pose_batcher_.CloseIfFull();
  return true;
}

bool CropRun::EmitPlan(FramePlan plan) {
  if (options_.async) return plans_.Push(std::move(plan));
  pending_plans_.push_back(std::move(plan));
  DrainWriter();
  return true;
}

// ---- pose inference ----------------------------------------------------------------------------

std::vector<CropPose> CropRun::Pose(BatchSlot* slot) {
  HeadOutputs outputs;
  const int rows = slot->rows_assigned;
  {
    ScopedTimer t(&times_.inference);
    GuardBatch("pose inference on crops of", *slot, name_, [&] {
      outputs = ForwardPose(slot);
      decoder_.Validate(outputs, rows);
    });
  }
  ++batches_run_;
  ScopedTimer t(&times_.postprocess);
  const at::Tensor poses = decoder_.Decode(outputs);
  std::vector<CropPose> result(static_cast<size_t>(rows));
  const float* p = poses.data_ptr<float>();
  for (int r = 0; r < rows; ++r) result[r].assign(p + r * keypoints_ * 3, p + (r + 1) * keypoints_ * 3);
  return result;
}

// Sequential runs and CTD tracking run each pose batch as it closes, on the crop stage's thread.
void CropRun::OnPoseBatchClosed(int64_t closed) {
  if (options_.async && !tracking_) return;  // the pose inference thread runs it
  pose_inference_.RunUpTo(
      closed + 1, [this](BatchSlot* s) { return Pose(s); },
      [this](std::vector<CropPose> poses) {
        if (!tracking_) return PushCropPoses(std::move(poses));
        for (auto& p : poses) inline_poses_->push_back(std::move(p));
        return true;
      });
}

bool CropRun::PushCropPoses(std::vector<CropPose> poses) {
  if (options_.async) {
    for (auto& p : poses)
      if (!crop_poses_.Push(std::move(p))) return false;
    return true;
  }
  for (auto& p : poses) pending_poses_.push_back(std::move(p));
  DrainWriter();
  return true;
}

// ---- writer ------------------------------------------------------------------------------------

at::Tensor CropRun::StackCropPoses(const FramePlan& plan, const std::vector<CropPose>& poses) const {
  at::Tensor crops = at::empty({plan.crops, keypoints_, 3}, at::kFloat);
  for (int i = 0; i < plan.crops; ++i)
    std::copy(poses[i].begin(), poses[i].end(), crops.data_ptr<float>() + i * keypoints_ * 3);
  return crops;
}

// Maps the plan's crop poses to the frame and writes the row.
void CropRun::WriteFrame(const FramePlan& plan, const std::vector<CropPose>& poses) {
  ScopedTimer t(&times_.write);
  const at::Tensor frame_poses =
      plan.poses.defined() ? plan.poses : MapToFrame(plan, StackCropPoses(plan, poses), /*rescore=*/true).contiguous();
  // DeepLabCut's DataFrame keeps the first `individuals` rows (boxes come best first).
  const float* p = frame_poses.data_ptr<float>();
  const size_t have = std::min(num_columns_, static_cast<size_t>(frame_poses.numel()));
  std::copy(p, p + have, row_values_.begin());
  std::fill(row_values_.begin() + static_cast<std::ptrdiff_t>(have), row_values_.end(), -1.0f);
  rows_.Append(plan.record, row_values_.data(), &plan.boxes, &plan.scores);
  if (rows_.frames_written() % 8 == 0) rows_.ReportProgress();
}

void CropRun::WriterLoop() {
  FramePlan plan;
  while (plans_.Pop(&plan)) {
    std::vector<CropPose> poses(static_cast<size_t>(plan.poses.defined() ? 0 : plan.crops));
    for (auto& p : poses)
      if (!crop_poses_.Pop(&p)) return;
    WriteFrame(plan, poses);
  }
}

void CropRun::DrainWriter() {
  while (!pending_plans_.empty()) {
    const FramePlan& plan = pending_plans_.front();
    const size_t need = static_cast<size_t>(plan.poses.defined() ? 0 : plan.crops);
    if (pending_poses_.size() < need) return;
    std::vector<CropPose> poses(std::make_move_iterator(pending_poses_.begin()),
                                std::make_move_iterator(pending_poses_.begin() + static_cast<std::ptrdiff_t>(need)));
    pending_poses_.erase(pending_poses_.begin(), pending_poses_.begin() + static_cast<std::ptrdiff_t>(need));
    WriteFrame(plan, poses);
    pending_plans_.pop_front();
  }
}

}  // namespace posebatch
