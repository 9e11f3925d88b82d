// What the three crop runs (top-down, CTD, CTD tracking) share:
//
//   decode ─frames─▶ cue stage (detector / conditions model, own slots) ─┐
//      └──────────── (boxes or conditions given: frames go straight on) ──┤ frames with cues, in order
//   writer ◀─plans (frame order)─ crop stage ─crops─▶ pose slots ─▶ pose inference ─crop poses─▶ writer
//
// A crop stage writes each crop straight into a row of a pose batch (batches count crops; a
// frame's crops may span two batches) and hands the writer the frame's plan; the writer
// gathers the plan's crop poses, maps them to the frame and writes its row. A decoded frame is
// held (not copied) until its crops are written, then returns to the pool of frame buffers:
// that pool, the slot pools and the bounded queues bound memory. Both inference stages run on
// the process's one InferenceThread, so they take turns on the cores.
//
// A mode (runs/top_down_run.cc, ctd_run.cc, ctd_tracking_run.cc) says where cues come from, how
// a frame's crops are planned, how the pose network is called and how crop poses map back.
// Two drivers call the same stage functions: threaded (a thread per stage) and sequential
// (one thread; every batch runs as it closes).
#pragma once

#include <ATen/Tensor.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/kit/batcher.h"
#include "pipeline/kit/bounded_queue.h"
#include "pipeline/kit/decode_stage.h"
#include "pipeline/kit/failure_latch.h"
#include "pipeline/kit/inference_stage.h"
#include "pipeline/kit/timeline_writer.h"
#include "pipeline/runs/cue_stage.h"
#include "predict/crop_pose_decoder.h"
#include "preprocess/ctd_conditions.h"
#include "preprocess/topdown_crop.h"

namespace posebatch {

// What the writer needs for a frame: its number/label and how many crop results to collect.
struct FramePlan {
  RowRecord record;
  int crops = 0;
  std::vector<CropTransform> transforms;
  std::vector<float> boxes, scores;  // the cropped boxes (x, y, w, h) and their scores, for the writer
  std::vector<CtdCrop> ctd;          // CTD: each crop's conditions and condition score (rescoring)
  at::Tensor poses;                  // CTD tracking: the frame's poses, final (no crops to wait for)
};

// A frame's crops: where to cut each, and (CTD) its conditions, K x 3 in crop pixels.
struct FrameCrops {
  std::vector<CropPlan> plans;
  std::vector<std::vector<float>> conditions;  // empty (top-down) or one per plan
};

// Pose of one crop, in crop pixels: K x 3.
using CropPose = std::vector<float>;

// Not thread-safe: Execute runs it once; inside, each stage's state belongs to its thread.
class CropRun {
 public:
  // cue_model: finds each frame's cues; null when they are given (GivenCues).
  CropRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
          const PreprocessOptions& preprocess, const RunContext& context, std::unique_ptr<CueModel> cue_model);
  virtual ~CropRun() = default;
  Status Execute(RunStats* stats);

 protected:
  // ---- what a mode says --------------------------------------------------------------------
  // The cues given per frame (RunContext::boxes / conditions) when there is no cue model.
  virtual FrameCues GivenCues(const Frame& frame) const = 0;
  // The frame's crops and the plan's boxes, scores, transforms (and CTD crops).
  virtual void PlanCrops(const Frame& frame, const FrameCues& cues, FramePlan* plan, FrameCrops* crops) = 0;
  // The pose network on a filled batch of crops (CTD: with their conditions).
  virtual HeadOutputs ForwardPose(BatchSlot* slot) = 0;
  // CTD: the crop's conditions beside its row (the row of batch `batch`).
  virtual void WriteConditions(int64_t /*batch*/, int /*row*/, const std::vector<float>& /*conditions*/) {}
  // The plan's crop poses, (crops, K, 3) in crop pixels, mapped to the frame: (rows, K, 3),
  // -1 rows for absent individuals (CTD: rescored unless `rescore` is false).
  virtual at::Tensor MapToFrame(const FramePlan& plan, const at::Tensor& crop_poses, bool rescore) const = 0;
  // The crop stage's work on one frame; CTD tracking replaces it. False: cancelled.
  virtual bool CropStage(const DetectedFrame& d);
  // Adds what the mode counts (CTD tracking: the conditions source's runs).
  virtual void AddStats(RunStats* /*stats*/) const {}

  // ---- for the modes -----------------------------------------------------------------------
  // Plans the frame's crops, hands the plan on, writes each crop into a pose slot row.
  bool CropFrame(const Frame& frame, const FrameCues& cues);
  // One crop into the next row of the open pose batch (CTD: its conditions beside it).
  bool AddCrop(const Frame& frame, const CropPlan& crop, const std::vector<float>* conditions);
  bool EmitPlan(FramePlan plan);
  // Closes the open pose batch (CTD tracking: it then runs, its poses into inline_poses_).
  void CloseCropBatch() { pose_batcher_.Close(); }
  // Pose on a batch of crops: K x 3 per crop, in crop pixels.
  std::vector<CropPose> Pose(BatchSlot* slot);
  at::Tensor StackCropPoses(const FramePlan& plan, const std::vector<CropPose>& poses) const;

  Model& model_;
  const PipelineOptions options_;
  const PreprocessOptions preprocess_;
  const RunContext& context_;
  const std::string name_;
  const int64_t individuals_, keypoints_;
  const TopDownCropSpec crop_spec_;
  // CTD tracking: pose batches run inline in the crop stage, as they close; cues are found on
  // demand (CueStage::RunOne) instead of by a stage of their own.
  const bool tracking_;
  std::unique_ptr<CueStage> cues_;                 // null when cues are given
  StageTimes times_;                               // decode, pose inference, postprocess, write
  double crop_seconds_ = 0;                        // crop stage
  std::vector<CropPose>* inline_poses_ = nullptr;  // tracking: where inline pose batches go
  int pose_slots() const { return pose_slots_; }

 private:
  void RunThreaded();
  void RunSequential();
  void DecodeLoop(BoundedQueue<Frame*>& free_frames, BoundedQueue<CueStage::Job>& cue_jobs,
                  BoundedQueue<DetectedFrame>& detected);
  bool CropLoop(BoundedQueue<DetectedFrame>& detected, BoundedQueue<Frame*>& free_frames);
  void WriterLoop();
  void OnPoseBatchClosed(int64_t closed);
  bool PushCropPoses(std::vector<CropPose> poses);
  void DrainWriter();  // sequential: every plan whose crop poses are in
  void WriteFrame(const FramePlan& plan, const std::vector<CropPose>& poses);
  void CancelAll();

  int pose_slots_ = 1;
  TopDownCropper cropper_;
  CropPoseDecoder decoder_;
  SlotPool pose_pool_;
  DecodeStage decode_;
  InOrderBatches pose_inference_;
  Batcher pose_batcher_;  // crop stage
  FailureLatch latch_;
  std::vector<Frame> frames_;
  size_t num_columns_ = 0;
  int64_t plan_capacity_ = 16;
  int64_t frames_since_open_ = 0;  // crop stage
  int64_t crops_written_ = 0;      // crop stage
  int64_t batches_run_ = 0;        // pose inference
  // Threaded: the crop stage's plans and pose inference's crop poses, to the writer.
  BoundedQueue<FramePlan> plans_;
  BoundedQueue<CropPose> crop_poses_;
  // Sequential: the same, in one thread.
  std::deque<FramePlan> pending_plans_;
  std::deque<CropPose> pending_poses_;
  std::vector<Frame*> free_frames_;  // sequential: the frame buffers not in use
  std::vector<float> row_values_;    // writer: the frame's row being assembled
  TimelineWriter rows_;              // writer
};

}  // namespace posebatch
