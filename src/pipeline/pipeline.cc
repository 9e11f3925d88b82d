// RunPipeline: the stages, their threads, and the single place where failures meet.
#include "posebatch/pipeline.h"


#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>

#include "common/stopwatch.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/inference_thread.h"
#include "pipeline/reorder_buffer.h"
#include "pipeline/run_common.h"
#include "pipeline/slot_pool.h"
#include "pipeline/stage_common.h"
#include "pipeline/topdown_pipeline.h"
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

// One run over one source. Stages are member functions; the async and sequential drivers
// call the same ones, so both modes compute identical results.
class Run {
 public:
  Run(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& options,
      const PreprocessOptions& preprocess, const RunContext& context)
      : model_(model),
        source_(source),
        writer_(writer),
        options_(options),
        preprocess_(preprocess),
        context_(context),
        normalizer_(model.spec.input),
        postprocessor_(model.spec),
        pool_(options.async ? options.num_slots : 1, options.batch_size, model.network->input_layout(),
              options.pin_memory),
        name_(source.info().path),
        num_columns_(postprocessor_.num_columns()),
        rows_(writer, source.info(), num_columns_, context) {}

  Status Execute(RunStats* stats) {
    Stopwatch wall;
    if (options_.async) {
      RunAsync();
    } else {
      RunSequential();
    }
    if (!latch_.failed()) WriteTrailingLostRows();
    if (stats != nullptr) {
      rows_.FillStats(stats);
      stats->stream = stream_end_;
      stats->batches = batches_run_;
      stats->wall_seconds = wall.Seconds();
      stats->busy = times_;
    }
    return latch_.failed() ? latch_.status() : Status::OK();
  }

 private:
  // ---- stages -------------------------------------------------------------------------

  // Decodes one frame into *frame. Returns false at the end of the stream (after taking the
  // source's end-of-stream report).
  bool DecodeInto(Frame* frame, double* busy) {
    ScopedTimer t(busy);
    try {
      if (source_.Next(frame)) return true;
      stream_end_ = source_.End();  // read by the writer side only after the threads joined
      return false;
    } catch (...) {
      throw Error(WithContext(StatusFromCurrentException(StatusCode::kCorrupt),
                              "decode after frame " + std::to_string(last_decoded_)));
    }
  }

  // Closes the open batch (if any) and moves to the next batch number.
  void CloseOpenBatch() {
    if (open_slot_ == nullptr) return;
    pool_.Close(open_slot_);
    open_slot_ = nullptr;
    ++next_batch_;
  }

  // Gives the frame a row in the open batch, opening a new one when needed. Returns false if
  // cancelled.
  bool Assign(Frame* frame, PreprocessJob* job) {
    InputGeometry g = ComputeGeometry(frame->width, frame->height, preprocess_, model_.spec.input,
                                      frame->label.empty() ? name_ : frame->label);
    if (open_slot_ != nullptr && open_slot_->geometry != g) CloseOpenBatch();  // sizes differ
    if (open_slot_ == nullptr) {
      open_slot_ = pool_.Acquire(next_batch_, g);
      if (open_slot_ == nullptr) return false;
    }
    job->frame = frame;
    job->slot = open_slot_;
    job->row = pool_.AssignRow(open_slot_, RowRecord{frame->index, frame->label, g});
    last_decoded_ = frame->index;
    if (job->row + 1 == pool_.batch_size()) CloseOpenBatch();
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
    const int rows = slot->rows_assigned;
    {
      ScopedTimer t(&times_.inference);
      try {
        const at::Tensor input = slot->Input();
        InferenceThread::Get().Run(options_.intra_op_threads,
                                   [&] { result.outputs = model_.network->Forward(input); });
        postprocessor_.Validate(result.outputs, rows);
      } catch (...) {
        throw Error(WithContext(StatusFromCurrentException(StatusCode::kModelError),
                                "inference on frames " + std::to_string(slot->records.front().index) +
                                    ".." + std::to_string(slot->records.back().index) + " of " + name_));
      }
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
                              "postprocess frames " + std::to_string(r.records.front().index) + ".." +
                                  std::to_string(r.records.back().index) + " of " + name_));
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
      rows_.Finish(stream_end_);
    } catch (...) {
      latch_.Fail(StatusFromCurrentException(), [] {});
    }
  }

  bool CancelRequested() const { return context_.StopRequested(); }

  // ---- drivers --------------------------------------------------------------------------

  void RunSequential() {
    try {
      Frame frame;
      int64_t next_to_run = 0;
      auto run_ready = [&] {
        while (next_to_run < next_batch_) {  // batches closed so far
          BatchSlot* slot = pool_.WaitReady(next_to_run);
          if (slot == nullptr) return;
          BatchResult r = Infer(slot);
          pool_.Release(slot);
          Write(Postprocess(std::move(r), &times_.postprocess));
          ++next_to_run;
        }
      };
      while (true) {
        if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
        if (!DecodeInto(&frame, &times_.decode)) break;
        PreprocessJob job;
        // With one slot, a new batch can only be acquired after the previous one ran.
        InputGeometry g = ComputeGeometry(frame.width, frame.height, preprocess_, model_.spec.input,
                                          frame.label.empty() ? name_ : frame.label);
        if (open_slot_ != nullptr && open_slot_->geometry != g) {
          CloseOpenBatch();
          run_ready();
        }
        if (!Assign(&frame, &job)) break;
        Preprocess(job, &times_.preprocess);
        run_ready();
      }
      CloseOpenBatch();
      pool_.SetTotalBatches(next_batch_);
      run_ready();
    } catch (...) {
      latch_.Fail(StatusFromCurrentException(), [] {});
    }
  }

  void RunAsync() {
    const int workers = std::max(1, options_.preprocess_workers);
    const size_t frame_count = static_cast<size_t>(std::max(1, options_.decoded_frames) + workers);
    std::vector<Frame> frames(frame_count);
    BoundedQueue<Frame*> free_frames(frame_count);
    for (auto& f : frames) free_frames.Push(&f);
    BoundedQueue<PreprocessJob> jobs(static_cast<size_t>(std::max(1, options_.decoded_frames)));
    BoundedQueue<BatchResult> results(static_cast<size_t>(std::max(1, options_.result_batches)));
    const int post_workers = std::max(1, options_.postprocess_workers);
    ReorderBuffer<RowsBatch> ordered(std::max(options_.result_batches, post_workers));
    auto cancel_all = [&] {
      pool_.Cancel();
      free_frames.Cancel();
      jobs.Cancel();
      results.Cancel();
      ordered.Cancel();
    };
    StageThreads threads(latch_, cancel_all);

    threads.Start([&] {  // decode

      LowerThreadPriority(options_.feeder_niceness);
      while (true) {
        if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
        Frame* frame = nullptr;
        if (!free_frames.Pop(&frame)) return;
        if (!DecodeInto(frame, &times_.decode)) break;
        PreprocessJob job;
        if (!Assign(frame, &job)) return;
        if (!jobs.Push(job)) return;
      }
      CloseOpenBatch();
      pool_.SetTotalBatches(next_batch_);
      jobs.Close();
    });

    std::mutex times_mu;
    for (int w = 0; w < workers; ++w) {
      threads.Start([&] {  // preprocess
        LowerThreadPriority(options_.feeder_niceness);
        double busy = 0;
        PreprocessJob job;
        while (jobs.Pop(&job)) {
          Preprocess(job, &busy);
          free_frames.Push(job.frame);
        }
        std::lock_guard<std::mutex> lock(times_mu);
        times_.preprocess += busy;
      });
    }

    threads.Start([&] {  // inference
      for (int64_t b = 0;; ++b) {
        BatchSlot* slot;
        {
          ScopedTimer t(&times_.inference_wait);
          slot = pool_.WaitReady(b);
        }
        if (slot == nullptr) break;
        if (CancelRequested()) throw Error(Status::Cancelled("interrupted"));
        BatchResult r = Infer(slot);
        pool_.Release(slot);
        if (!results.Push(std::move(r))) return;
      }
      results.Close();
    });

    // Postprocess workers (DeepLabCut runs assembly on its one consumer thread, where it
    // stalls inference); the writer puts their batches back in order.
    std::atomic<int> post_running{post_workers};
    for (int w = 0; w < post_workers; ++w) {
      threads.Start([&] {  // postprocess
        UseOneIntraOpThread();  // its ATen ops must not compete with inference's team
        double busy = 0;
        BatchResult r;
        while (results.Pop(&r)) {
          const int64_t id = r.batch_id;
          if (!ordered.Put(id, Postprocess(std::move(r), &busy))) break;
        }
        {
          std::lock_guard<std::mutex> lock(times_mu);
          times_.postprocess += busy;
        }
        if (post_running.fetch_sub(1) == 1) ordered.Close();
      });
    }

    threads.Start([&] {  // writer
      RowsBatch r;
      while (ordered.Take(&r)) Write(r);
    });
    threads.JoinAll();
  }

  Model& model_;
  FrameSource& source_;
  PoseWriter& writer_;
  PipelineOptions options_;
  PreprocessOptions preprocess_;
  const RunContext& context_;
  Normalizer normalizer_;
  PosePostprocessor postprocessor_;
  SlotPool pool_;
  std::string name_;
  size_t num_columns_ = 0;  // floats per output row
  FailureLatch latch_;
  StageTimes times_;
  // Decoder-side state (one thread).
  BatchSlot* open_slot_ = nullptr;
  int64_t next_batch_ = 0;
  int64_t last_decoded_ = -1;
  // Writer-side state (one thread).
  TimelineWriter rows_;
  int64_t batches_run_ = 0;
  StreamEnd stream_end_;        // set by the decode side at the end of the stream
};

}  // namespace

Status RunPipeline(Model& model, FrameSource& source, PoseWriter& writer, const PipelineOptions& pipeline,
                   const PreprocessOptions& preprocess, const RunContext& context, RunStats* stats) {
  if (pipeline.batch_size < 1) return Status::InvalidArgument("batch size must be >= 1");
  if (pipeline.num_slots < 1) return Status::InvalidArgument("number of batch slots must be >= 1");
  if (model.network == nullptr) return Status::InvalidArgument("model has no network");
  if (model.spec.method != Method::kBottomUp) {
    if (!pipeline.async) return Status::InvalidArgument("top-down models run on the asynchronous pipeline only");
    return RunTopDownPipeline(model, source, writer, pipeline, preprocess, context, stats);
  }
  try {
    Run run(model, source, writer, pipeline, preprocess, context);
    return run.Execute(stats);
  } catch (...) {
    return StatusFromCurrentException();
  }
}

ColumnLayout LayoutFor(const Model& model, const std::string& scorer, bool with_individuals) {
  ColumnLayout layout;
  layout.scorer = scorer;
  layout.bodyparts = model.spec.bodyparts;
  if (IsMultiAnimal(model.spec)) {
    layout.individuals = model.spec.individuals;
    layout.unique_bodyparts = model.spec.unique_bodyparts;
  } else if (with_individuals) {  // a single animal, under its one individual (image runs)
    layout.individuals = {model.spec.individuals.front()};
  }
  return layout;
}

}  // namespace posebatch
