#include "posebatch/progress_json.h"

#include <map>
#include <mutex>

#include "campaign/json_text.h"

namespace posebatch {

const char* InputOutcome(const InputResult& r) {
  if (r.busy) return "busy";
  if (r.skipped) return "skipped";
  if (r.status.code() == StatusCode::kCancelled) return "stopped";
  return r.status.ok() ? "analysed" : "failed";
}

struct JsonProgressWriter::Impl {
  std::FILE* out;
  double interval;
  int task = -1, count = 0;
  std::mutex mu;
  std::map<std::string, double> last_progress;  // input -> time of its last progress line

  void Emit(JsonObject event) {
    event.AddTime("time", UnixSeconds());
    if (task >= 0) event.Add("task", task).Add("of", count);
    const std::string line = event.str() + "\n";
    std::fwrite(line.data(), 1, line.size(), out);
    std::fflush(out);
  }
};

JsonProgressWriter::JsonProgressWriter(std::FILE* out, double interval_s) : impl_(new Impl) {
  impl_->out = out;
  impl_->interval = interval_s;
}
JsonProgressWriter::~JsonProgressWriter() = default;

void JsonProgressWriter::SetTask(int index, int count) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->task = index;
  impl_->count = count;
}

void JsonProgressWriter::Message(MessageLevel level, const std::string& text) {
  const char* name = level == MessageLevel::kInfo ? "info" : level == MessageLevel::kNote ? "note" : "warning";
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->Emit(JsonObject().Add("event", "message").Add("level", name).Add("text", text));
}

void JsonProgressWriter::InputStart(const std::string& input, int64_t frames_total) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->last_progress[input] = 0;
  impl_->Emit(JsonObject().Add("event", "start").Add("input", input).Add("frames_total", frames_total));
}

void JsonProgressWriter::InputProgress(const std::string& input, const Progress& p) {
  std::lock_guard<std::mutex> hold(impl_->mu);
  const double now = UnixSeconds();
  double& last = impl_->last_progress[input];
  const bool end = p.frames_total >= 0 && p.frames_done >= p.frames_total;
  if (!end && now - last < impl_->interval) return;
  last = now;
  const double fps = p.elapsed_seconds > 0 ? static_cast<double>(p.frames_done) / p.elapsed_seconds : 0.0;
  const double eta = fps > 0 && p.frames_total >= 0 ? static_cast<double>(p.frames_total - p.frames_done) / fps : -1.0;
  impl_->Emit(JsonObject()
                  .Add("event", "progress")
                  .Add("input", input)
                  .Add("frames_done", p.frames_done)
                  .Add("frames_total", p.frames_total)
                  .Add("elapsed", p.elapsed_seconds)
                  .Add("fps", fps)
                  .Add("eta", eta));
}

void JsonProgressWriter::InputDone(const InputResult& r) {
  const double fps = r.stats.wall_seconds > 0 ? static_cast<double>(r.stats.frames) / r.stats.wall_seconds : 0.0;
  JsonObject event;
  event.Add("event", "done")
      .Add("input", r.input)
      .Add("outcome", InputOutcome(r))
      .Add("rows", r.rows)
      .Add("resumed_rows", r.resumed_rows)
      .Add("frames", r.stats.frames)
      .Add("lost_frames", r.lost_frames)
      .Add("seconds", r.stats.wall_seconds)
      .Add("fps", fps)
      .Add("outputs", r.outputs);
  if (!r.status.ok()) event.Add("error", r.status.message());
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->last_progress.erase(r.input);
  impl_->Emit(std::move(event));
}

void JsonProgressWriter::Summary(const AnalyzeResult& result, int exit_code) {
  int analysed = 0, skipped = 0;
  for (const auto& r : result.inputs) {
    const std::string outcome = InputOutcome(r);
    analysed += outcome == "analysed";
    skipped += outcome == "skipped" || outcome == "busy";
  }
  std::lock_guard<std::mutex> hold(impl_->mu);
  impl_->Emit(JsonObject()
                  .Add("event", "summary")
                  .Add("inputs", result.inputs.size())
                  .Add("analysed", analysed)
                  .Add("skipped", skipped)
                  .Add("failed", result.failed())
                  .Add("lost_frames", result.with_lost_frames())
                  .Add("interrupted", result.interrupted)
                  .Add("exit_code", exit_code));
}

AnalyzeCallbacks JsonProgressWriter::Callbacks(AnalyzeCallbacks then) {
  AnalyzeCallbacks c;
  c.on_message = [this, then](MessageLevel level, const std::string& text) {
    Message(level, text);
    if (then.on_message) then.on_message(level, text);
  };
  c.on_progress = [this, then](const std::string& input, const Progress& p) {
    InputProgress(input, p);
    if (then.on_progress) then.on_progress(input, p);
  };
  c.on_input_start = [this, then](const std::string& input, int64_t total) {
    InputStart(input, total);
    if (then.on_input_start) then.on_input_start(input, total);
  };
  c.on_input_done = [this, then](const InputResult& r) {
    InputDone(r);
    if (then.on_input_done) then.on_input_done(r);
  };
  return c;
}

}  // namespace posebatch
