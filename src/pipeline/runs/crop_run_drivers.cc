// The two drivers of a crop run (crop_run.h): threaded, a thread per stage joined by bounded
// queues; sequential, every stage on the calling thread, each batch run as it closes.
#include <algorithm>

#include "pipeline/kit/stage_threads.h"
#include "pipeline/runs/crop_run.h"

namespace posebatch {

void CropRun::CancelAll() {
  if (cues_ != nullptr) cues_->Cancel();
  pose_pool_.Cancel();
  plans_.Cancel();
  crop_poses_.Cancel();
}

void CropRun::DecodeLoop(BoundedQueue<Frame*>& free_frames, BoundedQueue<CueStage::Job>& cue_jobs,
                         BoundedQueue<DetectedFrame>& detected) {
  LowerThreadPriority(options_.feeder_niceness);
  const bool straight_on = cues_ == nullptr || tracking_;  // (the tracker finds cues itself)
  while (true) {
    ThrowIfStopRequested(context_);
    Frame* frame = nullptr;
    if (!free_frames.Pop(&frame)) return;
    if (!decode_.Next(frame)) break;
    if (straight_on) {
      DetectedFrame d{frame, tracking_ ? FrameCues() : GivenCues(*frame)};
      if (!detected.Push(std::move(d))) return;
      continue;
    }
    CueStage::Job job;
    if (!cues_->Add(frame, &job)) return;
    cues_->CloseIfFull();
    if (!cue_jobs.Push(job)) return;
  }
  if (straight_on) {
    detected.Close();
  } else {
    cues_->Finish();
    cue_jobs.Close();
  }
}

bool CropRun::CropLoop(BoundedQueue<DetectedFrame>& detected, BoundedQueue<Frame*>& free_frames) {
  LowerThreadPriority(options_.feeder_niceness);
  DetectedFrame d;
  while (detected.Pop(&d)) {
    ThrowIfStopRequested(context_);
    if (!CropStage(d)) return false;
    free_frames.Push(d.frame);
  }
  pose_batcher_.Finish();
  plans_.Close();
  return true;
}

void CropRun::RunThreaded() {
  BoundedQueue<Frame*> free_frames(frames_.size());
  for (auto& f : frames_) free_frames.Push(&f);
  const size_t queued = static_cast<size_t>(std::max(1, options_.decoded_frames));
  BoundedQueue<CueStage::Job> cue_jobs(queued);
  BoundedQueue<DetectedFrame> detected(queued);
  StageThreads threads(latch_, [&] {
    CancelAll();
    free_frames.Cancel();
    cue_jobs.Cancel();
    detected.Cancel();
  });
  threads.Start([&] { DecodeLoop(free_frames, cue_jobs, detected); });
  double cue_fill_s = 0;
  if (cues_ != nullptr && !tracking_) {
    threads.Start([&] {  // cue preprocess
      LowerThreadPriority(options_.feeder_niceness);
      CueStage::Job job;
      while (cue_jobs.Pop(&job)) cues_->Fill(job, &cue_fill_s);
    });
    threads.Start([&] {  // cue inference
      if (cues_->RunAll([&](DetectedFrame d) { return detected.Push(std::move(d)); })) detected.Close();
    });
  }
  threads.Start([&] { CropLoop(detected, free_frames); });
  if (!tracking_) {
    threads.Start([&] {  // pose inference
      if (pose_inference_.RunAll([this](BatchSlot* s) { return Pose(s); },
                                 [this](std::vector<CropPose> p) { return PushCropPoses(std::move(p)); })) {
        crop_poses_.Close();
      }
    });
  }
  threads.Start([&] { WriterLoop(); });
  threads.JoinAll();
  times_.preprocess += cue_fill_s;
}

void CropRun::RunSequential() {
  for (auto& f : frames_) free_frames_.push_back(&f);
  const bool straight_on = cues_ == nullptr || tracking_;
  while (true) {
    ThrowIfStopRequested(context_);
    if (free_frames_.empty()) throw Error(Status::Internal("no free frame buffer"));
    Frame* frame = free_frames_.back();
    free_frames_.pop_back();
    if (!decode_.Next(frame)) break;
    if (straight_on) {
      if (!CropStage(DetectedFrame{frame, tracking_ ? FrameCues() : GivenCues(*frame)})) return;
      free_frames_.push_back(frame);
      continue;
    }
    CueStage::Job job;
    if (!cues_->Add(frame, &job)) return;  // (a batch of other geometry closed and ran first)
    cues_->Fill(job, &times_.preprocess);
    cues_->CloseIfFull();  // a full batch runs here; its frames are cropped and freed
  }
  if (!straight_on) cues_->Finish();
  pose_batcher_.Finish();
  DrainWriter();
}

}  // namespace posebatch
