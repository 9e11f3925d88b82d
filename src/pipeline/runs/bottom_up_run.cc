// The bottom-up run (single- and multi-animal bottom-up models):
//
//   decode ─jobs─▶ preprocess workers ─rows─▶ slots ─▶ inference ─▶ postprocess workers ─▶ writer
//
// Stages are member functions; the threaded driver gives each its thread(s) and bounded
// queues, the sequential one calls the same functions in turn, running each batch as it closes,
// so both compute identical results.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "common/stopwatch.h"
#include "pipeline/kit/batcher.h"
#include "pipeline/kit/bounded_queue.h"
#include "pipeline/kit/decode_stage.h"
#include "pipeline/kit/inference_stage.h"
#include "pipeline/kit/inference_thread.h"
#include "pipeline/kit/reorder_buffer.h"
#include "pipeline/kit/stage_threads.h"
#include "pipeline/kit/timeline_writer.h"
#include "pipeline/runs/run_kinds.h"
#include "predict/pose_postprocessor.h"
#include "preprocess/normalize.h"

namespace posebatch {
namespace {

struct PreprocessJob {
  Frame* frame = nullptr;
  BatchSlot* slot = nullptr;
  int row = 0;
};

struct BatchResult {
  int64_t batch_id = 0;
  HeadOutputs outputs;
  std::vector<RowRecord> records;
};

// A batch's output rows, ready for the writer.
struct RowsBatch {
  std::vector<RowRecord> records;
  std::vector<float> rows;  // records.size() x num_columns
};

class BottomUpRun {
 public:
  BottomUpRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
              const PreprocessOptions& preprocess, const RunContext& context)
      : model_(model),
        options_(options),
        preprocess_(preprocess),
        context_(context),
        normalizer_(model.spec.input),
        postprocessor_(model.spec),
        pool_(options.async ? options.num_slots : 1, options.batch_size, model.network->input_layout(),
              options.pin_memory),
        name_(source.info().path),
        num_columns_(postprocessor_.num_columns()),
        decode_(source, &times_.decode),
        inference_(pool_, context, &times_.inference_wait),
        rows_(writer, source.info(), num_columns_, context) {}

  Status Execute(RunStats* stats) {
    Stopwatch wall;
    if (options_.async) {
      RunThreaded();
    } else {
      RunInTurn(latch_, [this] { RunSequential(); });
    }
    if (!latch_.failed()) WriteTrailingLostRows();
    if (stats != nullptr) {
      rows_.FillStats(stats);
      stats->stream = decode_.end();
      stats->batches = batches_run_;
      stats->wall_seconds = wall.Seconds();
      stats->busy = times_;
    }
    return latch_.failed() ? latch_.status() : Status::OK();
  }

 private:
  // ---- stages ------------------------------------------------------------------------------

  // Gives the frame a row in the open batch, opening a new one when needed. False: cancelled.
  bool Assign(Batcher& batcher, Frame* frame, PreprocessJob* job) {
    const InputGeometry g = ComputeGeometry(frame->width, frame->height, preprocess_, model_.spec.input,
                                            frame->label.empty() ? name_ : frame->label);
    Batcher::Row row;
    if (!batcher.Add(RowRecord{frame->index, frame->label, g}, &row)) return false;
    *job = PreprocessJob{frame, row.slot, row.row};
    return true;
  }

  void Preprocess(const PreprocessJob& job, double* busy) {
    ScopedTimer t(busy);
    try {
      normalizer_.Write(*job.frame, job.slot->geometry, job.slot->RowData(job.row), job.slot->layout);
    } catch (...) {
      throw Error(WithContext(StatusFromCurrentException(),
                              "preprocess frame " + std::to_string(job.frame->index) + " of " + name_));
    }
    pool_.RowFilled(job.slot);
  }

  BatchResult Infer(BatchSlot* slot) {
    BatchResult result;
    result.batch_id = slot->batch_id;
    {
      ScopedTimer t(&times_.inference);
      GuardBatch("inference on", *slot, name_, [&] {
        const at::Tensor input = slot->Input();
        InferenceThread::Get().Run(options_.intra_op_threads, [&] { result.outputs = model_.network->Forward(input); });
        postprocessor_.Validate(result.outputs, slot->rows_assigned);
      });
    }
    result.records = std::move(slot->records);
    ++batches_run_;
    return result;
  }

  // Predictor and assembly: may run on several postprocess workers at once (const state only).
  RowsBatch Postprocess(BatchResult r, double* busy) const {
    ScopedTimer t(busy);
    RowsBatch out;
    out.rows.resize(r.records.size() * num_columns_);
    try {
      postprocessor_.Process(r.outputs, static_cast<int64_t>(r.records.size()), out.rows.data());
    } catch (...) {
      throw Error(WithContext(StatusFromCurrentException(StatusCode::kModelError),
                              "postprocess frames " + FramesOf(r.records) + " of " + name_));
    }
    out.records = std::move(r.records);
    return out;
  }

  void Write(const RowsBatch& r) {
    ScopedTimer t(&times_.write);
    for (size_t i = 0; i < r.records.size(); ++i) rows_.Append(r.records[i], r.rows.data() + i * num_columns_);
    rows_.ReportProgress();
  }

  // After the last decoded frame: the frames the container declares but the file no longer
  // holds (a truncated file). Runs after every stage thread has joined.
  void WriteTrailingLostRows() {
    try {
      rows_.Finish(decode_.end());
    } catch (...) {
      latch_.FailWithCurrentException();
    }
  }

  // ---- drivers -----------------------------------------------------------------------------

  // One thread, one slot: each batch runs, is postprocessed and written as soon as it closes.
  void RunSequential() {
    Batcher batcher(pool_, [this](int64_t closed) {
      inference_.RunUpTo(
          closed + 1, [this](BatchSlot* s) { return Infer(s); },
          [this](BatchResult r) {
            Write(Postprocess(std::move(r), &times_.postprocess));
            return true;
          });
    });
    Frame frame;
    while (true) {
      ThrowIfStopRequested(context_);
      if (!decode_.Next(&frame)) break;
      PreprocessJob job;
      if (!Assign(batcher, &frame, &job)) break;
      Preprocess(job, &times_.preprocess);
      batcher.CloseIfFull();
    }
    batcher.Finish();
  }

  void RunThreaded() {
    const int workers = std::max(1, options_.preprocess_workers);
    const size_t frame_count = static_cast<size_t>(std::max(1, options_.decoded_frames) + workers);
    std::vector<Frame> frames(frame_count);
    BoundedQueue<Frame*> free_frames(frame_count);
    for (auto& f : frames) free_frames.Push(&f);
    BoundedQueue<PreprocessJob> jobs(static_cast<size_t>(std::max(1, options_.decoded_frames)));
    BoundedQueue<BatchResult> results(static_cast<size_t>(std::max(1, options_.result_batches)));
    const int post_workers = std::max(1, options_.postprocess_workers);
    ReorderBuffer<RowsBatch> ordered(std::max(options_.result_batches, post_workers));
    StageThreads threads(latch_, [&] {
      pool_.Cancel();
      free_frames.Cancel();
      jobs.Cancel();
      results.Cancel();
      ordered.Cancel();
    });
    threads.Start([&] { DecodeLoop(free_frames, jobs); });
    for (int w = 0; w < workers; ++w) threads.Start([&] { PreprocessLoop(jobs, free_frames); });
    threads.Start([&] {  // inference
      if (inference_.RunAll([this](BatchSlot* s) { return Infer(s); },
                            [&](BatchResult r) { return results.Push(std::move(r)); })) {
        results.Close();
      }
    });
    // Postprocess workers (DeepLabCut runs assembly on its one consumer thread, where it
    // stalls inference); the writer puts their batches back in order.
    std::atomic<int> post_running{post_workers};
    for (int w = 0; w < post_workers; ++w) threads.Start([&] { PostprocessLoop(results, ordered, post_running); });
    threads.Start([&] {  // writer
      RowsBatch r;
      while (ordered.Take(&r)) Write(r);
    });
    threads.JoinAll();
  }

  void PreprocessLoop(BoundedQueue<PreprocessJob>& jobs, BoundedQueue<Frame*>& free_frames) {
    LowerThreadPriority(options_.feeder_niceness);
    double busy = 0;
    PreprocessJob job;
    while (jobs.Pop(&job)) {
      Preprocess(job, &busy);
      free_frames.Push(job.frame);
    }
    std::lock_guard<std::mutex> lock(times_mu_);
    times_.preprocess += busy;
  }

  // The last of the workers to finish closes `ordered`.
  void PostprocessLoop(BoundedQueue<BatchResult>& results, ReorderBuffer<RowsBatch>& ordered,
                       std::atomic<int>& running) {
    UseOneIntraOpThread();  // its ATen ops must not compete with inference's team
    double busy = 0;
    BatchResult r;
    while (results.Pop(&r)) {
      const int64_t id = r.batch_id;
      if (!ordered.Put(id, Postprocess(std::move(r), &busy))) break;
    }
    {
      std::lock_guard<std::mutex> lock(times_mu_);
      times_.postprocess += busy;
    }
    if (running.fetch_sub(1) == 1) ordered.Close();
  }

  void DecodeLoop(BoundedQueue<Frame*>& free_frames, BoundedQueue<PreprocessJob>& jobs) {
    LowerThreadPriority(options_.feeder_niceness);
    Batcher batcher(pool_);
    while (true) {
      ThrowIfStopRequested(context_);
      Frame* frame = nullptr;
      if (!free_frames.Pop(&frame)) return;
      if (!decode_.Next(frame)) break;
      PreprocessJob job;
      if (!Assign(batcher, frame, &job)) return;
      batcher.CloseIfFull();
      if (!jobs.Push(job)) return;
    }
    batcher.Finish();
    jobs.Close();
  }

  Model& model_;
  const PipelineOptions options_;
  const PreprocessOptions preprocess_;
  const RunContext& context_;
  Normalizer normalizer_;
  PosePostprocessor postprocessor_;
  SlotPool pool_;
  std::string name_;
  size_t num_columns_ = 0;  // floats per output row
  FailureLatch latch_;
  StageTimes times_;
  std::mutex times_mu_;       // the workers' sums into times_
  DecodeStage decode_;        // decode thread
  InOrderBatches inference_;  // inference thread
  int64_t batches_run_ = 0;   // inference thread
  TimelineWriter rows_;       // writer thread
};

}  // namespace

Status ExecuteBottomUpRun(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                          const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  BottomUpRun run(model, source, writer, pipeline, preprocess, context);
  return run.Execute(stats);
}

}  // namespace posebatch
