#include "pipeline/runs/cue_stage.h"

#include <algorithm>

#include "pipeline/kit/inference_thread.h"

namespace posebatch {
namespace {

int SlotsFor(const PipelineOptions& options) { return options.async ? std::max(1, options.num_slots) : 1; }

}  // namespace

CueStage::CueStage(std::unique_ptr<CueModel> model, const PipelineOptions& options, const PreprocessOptions& preprocess,
                   const RunContext& context, const std::string& source_name, Sink sequential_sink)
    : model_(std::move(model)),
      options_(options),
      preprocess_(preprocess),
      name_(source_name),
      normalizer_(model_->input()),
      pool_(SlotsFor(options), std::max(1, options.detector_batch_size), model_->layout()),
      frames_(static_cast<size_t>(SlotsFor(options)),
              std::vector<Frame*>(static_cast<size_t>(std::max(1, options.detector_batch_size)))),
      sequential_sink_(std::move(sequential_sink)),
      inference_(pool_, context, &times_.inference_wait),
      batcher_(
          pool_, !sequential_sink_ ? std::function<void(int64_t)>() : [this](int64_t closed) {
            inference_.RunUpTo(
                closed + 1, [this](BatchSlot* s) { return Detect(s); },
                [this](Found f) { return Hand(std::move(f), sequential_sink_); });
          }) {}

bool CueStage::Add(Frame* frame, Job* job) {
  const InputGeometry g = ComputeGeometry(frame->width, frame->height, preprocess_, model_->input(),
                                          frame->label.empty() ? name_ : frame->label);
  Batcher::Row row;
  if (!batcher_.Add(RowRecord{frame->index, frame->label, g}, &row)) return false;
  frames_[static_cast<size_t>(row.slot->batch_id % static_cast<int64_t>(frames_.size()))]
         [static_cast<size_t>(row.row)] = frame;
  *job = Job{frame, row.slot, row.row};
  return true;
}

void CueStage::Fill(const Job& job, double* busy) {
  ScopedTimer t(busy);
  normalizer_.Write(*job.frame, job.slot->geometry, job.slot->RowData(job.row), job.slot->layout);
  pool_.RowFilled(job.slot);
}

bool CueStage::RunAll(const Sink& sink) {
  return inference_.RunAll([this](BatchSlot* s) { return Detect(s); },
                           [&](Found f) { return Hand(std::move(f), sink); });
}

bool CueStage::RunOne(Frame* frame, FrameCues* cues) {
  Job job;
  if (!Add(frame, &job)) return false;
  Fill(job, &times_.preprocess);
  batcher_.Close();  // (no sequential sink in a tracking run: the batch runs here)
  return inference_.RunUpTo(
      batcher_.next_batch(), [this](BatchSlot* s) { return Detect(s); },
      [&](Found f) {
        *cues = std::move(f.cues.front());
        return true;
      });
}

CueStage::Found CueStage::Detect(BatchSlot* slot) {
  Found found;
  {
    ScopedTimer t(&times_.inference);
    GuardBatch(model_->what() + " on", *slot, name_, [&] {
      const at::Tensor input = slot->Input();
      InferenceThread::Get().Run(options_.intra_op_threads, [&] { found.cues = model_->Run(input); });
    });
  }
  if (static_cast<int>(found.cues.size()) != slot->rows_assigned) {
    throw Error(Status::ModelError(model_->what() + " returned " + std::to_string(found.cues.size()) + " results for " +
                                   std::to_string(slot->rows_assigned) + " images"));
  }
  // Copied before the slot's release: the decoder refills this row table right after.
  const auto& frames = frames_[static_cast<size_t>(slot->batch_id % static_cast<int64_t>(frames_.size()))];
  found.frames.assign(frames.begin(), frames.begin() + slot->rows_assigned);
  return found;
}

bool CueStage::Hand(Found found, const Sink& sink) {
  for (size_t r = 0; r < found.frames.size(); ++r) {
    if (!sink(DetectedFrame{found.frames[r], std::move(found.cues[r])})) return false;
  }
  return true;
}

}  // namespace posebatch
