#include "analyze/resume_plan.h"

#include <filesystem>

#include "predict/ctd_tracking.h"

namespace fs = std::filesystem;

namespace posebatch {

JournalHeader JournalHeaderFor(const std::string& model_fingerprint, const Model& model, const std::string& video,
                               const ColumnLayout& layout, const AnalyzeOptions& options,
                               const Model* conditions_model) {
  std::string columns;
  for (const auto& col : layout.Columns())
    for (const auto& part : col) columns += part + '\x1f';
  const Crop& c = options.preprocess.crop;
  const DecodeOptions& dec = options.decode;
  const int batch_size = options.pipeline.batch_size;
  JournalHeader header = {
      {"model_weights", model_fingerprint},
      {"model_config", FingerprintText(model.spec.config_text)},
      {"device", options.device},
      {"columns", std::to_string(layout.NumColumns()) + ":" + FingerprintText(columns)},
      {"video", FingerprintFileEnds(video)},
      {"frames", std::to_string(dec.start_frame) + ":" + std::to_string(dec.stop_frame)},
      {"crop", c.enabled() ? std::to_string(c.x1) + "," + std::to_string(c.x2) + "," + std::to_string(c.y1) + "," +
                                 std::to_string(c.y2)
                           : "none"},
      {"batch_size", std::to_string(batch_size)},
      {"chunk_rows", std::to_string(JournalChunkRows(batch_size))}};
  // Rows also depend on given boxes or conditions, or on the conditions model.
  if (!options.boxes_path.empty()) header.push_back({"boxes", FingerprintFile(options.boxes_path)});
  if (!options.conditions_path.empty()) header.push_back({"conditions", FingerprintFile(options.conditions_path)});
  if (conditions_model != nullptr) {
    header.push_back({"conditions_model", FingerprintFile(conditions_model->weights_path)});
  }
  if (options.ctd_tracking) header.push_back({"ctd_tracking", DescribeCtdTrackingOptions(options.tracking)});
  return header;
}

ResumePlan PlanResume(const std::string& out_base, JournalHeader header, int batch_size, size_t ncols,
                      bool resume, const std::string& video, int64_t start_frame, bool with_boxes,
                      const MessageSink& say) {
  ResumePlan plan;
  plan.with_boxes = with_boxes;
  // Journals with boxes have longer rows: one without would be misread, so the header says it.
  if (with_boxes) header.push_back({"journal_boxes", "1"});
  plan.path = out_base + ".resume";
  plan.header = std::move(header);
  plan.chunk_rows = JournalChunkRows(batch_size);
  const std::string from = "starting from frame " + std::to_string(start_frame);
  std::error_code ec;
  const bool exists = fs::exists(plan.path, ec);
  if (!resume) {
    if (exists) {
      say(MessageLevel::kNote, video + ": an interrupted run left " + plan.path + "; " + from +
                                   " and replacing it (--resume continues from it instead)");
    }
    return plan;
  }
  if (!exists) {
    say(MessageLevel::kNote, video + ": nothing to resume (no " + plan.path + "); " + from);
    return plan;
  }
  JournalContents found = ReadJournal(plan.path, ncols, with_boxes);
  std::string why = found.problem;
  if (why.empty()) {
    std::string differs = HeaderMismatch(plan.header, found.header);
    if (!differs.empty()) why = "it was written for another model, video or options: " + differs;
  }
  if (why.empty() && found.rows() == 0) why = "it holds no complete chunk yet";
  if (why.empty() && found.frames.front() != start_frame) why = "its first frame is not the range's start";
  if (!why.empty()) {
    say(MessageLevel::kNote, video + ": cannot resume from " + plan.path + " (" + why + "); " + from);
    return plan;
  }
  std::string text = video + ": resuming from frame " + std::to_string(found.frames.back() + 1) + " (" +
                     std::to_string(found.rows()) + " frames in " + std::to_string(found.chunks) +
                     " chunks from " + plan.path;
  if (found.discarded_bytes > 0) {
    text += "; discarded a torn or corrupt tail of " + std::to_string(found.discarded_bytes) + " bytes";
  }
  say(MessageLevel::kNote, text + ")");
  plan.previous = std::move(found);
  plan.continue_previous = true;
  return plan;
}

}  // namespace posebatch
