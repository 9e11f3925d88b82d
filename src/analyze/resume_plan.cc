#include "analyze/resume_plan.h"

#include <filesystem>

#include "predict/ctd_tracking.h"

namespace fs = std::filesystem;

namespace posebatch {

namespace {

// Names options that do not change a video's rows (where the outputs go, what else is written,
// speed, scheduling, signalling): they are left out of the journal's key.
template <typename... Fields>
void NotRows(const Fields&...) {}

std::string CropText(const Crop& crop) {
  const auto& [x1, x2, y1, y2] = crop;  // every field: a new one must be added here
  if (!crop.enabled()) return "none";
  return std::to_string(x1) + "," + std::to_string(x2) + "," + std::to_string(y1) + "," + std::to_string(y2);
}

const char* LayoutName(const Network& network) {
  return network.input_layout() == InputLayout::kNHWC ? "nhwc" : "nchw";
}

}  // namespace

JournalHeader JournalHeaderFor(const std::string& model_fingerprint, const Model& model, const std::string& video,
                               const ColumnLayout& layout, const AnalyzeOptions& options,
                               const Model* conditions_model) {
  // The key is built from every field of AnalyzeOptions and of the option structs inside it, by
  // structured bindings: a field added to them does not compile here until it is either keyed
  // or passed to NotRows. Model options are keyed by what the loaded network really computes
  // in (a --precision that fell back to float32 is float32), not by what was asked for.
  const auto& [model_options, dest_dir, scorer, save_csv, overwrite, resume, labeled_video, decode, preprocess,
               pipeline, auto_batch_size, boxes_path, conditions_path, conditions_model_path, ctd_tracking, tracking,
               auto_track, track, cancel, stop_at_checkpoint, callbacks] = options;
  const auto& [config_path, device, snapshot, detector_snapshot, half, channels_last, precision] =
      model_options;  // ModelLoadOptions order
  const auto& [start_frame, stop_frame, decoder_threads] = decode;
  const auto& [crop] = preprocess;
  const auto& [batch_size, detector_batch_size, num_slots, preprocess_workers, decoded_frames, result_batches,
               postprocess_workers, async, intra_op_threads, feeder_niceness, pin_memory] = pipeline;
  // Keyed through the files they load (model_weights, model_config, detector_weights) or the network's own word
  // (half, channels_last, precision); scorer through the columns; auto_batch_size through the
  // batch size it chose (options.pipeline.batch_size is the one in use).
  NotRows(config_path, snapshot, detector_snapshot, half, channels_last, precision, scorer, auto_batch_size,
          conditions_model_path);
  NotRows(auto_track, track);  // tracking runs on the finished files, after the rows
  // Where and what else is written, and control.
  NotRows(dest_dir, save_csv, overwrite, resume, labeled_video, cancel, stop_at_checkpoint, callbacks);
  // Speed only: the rows are the same (the async-vs-sequential and thread-count tests).
  NotRows(decoder_threads, num_slots, preprocess_workers, decoded_frames, result_batches, postprocess_workers, async,
          intra_op_threads, feeder_niceness, pin_memory);

  std::string columns;
  for (const auto& col : layout.Columns())
    for (const auto& part : col) columns += part + '\x1f';
  const Network& network = *model.network;
  JournalHeader header = {{"model_weights", model_fingerprint},
                          {"model_config", FingerprintText(model.spec.config_text)},
                          {"device", device},
                          {"precision", network.precision()},
                          {"layout", LayoutName(network)},
                          {"columns", std::to_string(layout.NumColumns()) + ":" + FingerprintText(columns)},
                          {"video", FingerprintFileEnds(video)},
                          {"frames", std::to_string(start_frame) + ":" + std::to_string(stop_frame)},
                          {"crop", CropText(crop)},
                          {"batch_size", std::to_string(batch_size)},
                          {"chunk_rows", std::to_string(JournalChunkRows(batch_size))}};
  // int8: activation ranges measured on the first frame of the range (RunVideo calibrates a
  // resumed run on that frame again, so its rows equal an uninterrupted run's).
  if (network.precision() == "int8") header.push_back({"int8_calibration", "frame " + std::to_string(start_frame)});
  // The detector batches frames (top-down; CTD: the conditions model's batches).
  if (model.spec.method != Method::kBottomUp) {
    header.push_back({"detector_batch_size", std::to_string(detector_batch_size)});
  }
  // A training folder's detector is a file of its own (an export's is inside model_weights).
  if (!model.detector_path.empty()) header.push_back({"detector_weights", FingerprintFile(model.detector_path)});
  // Rows also depend on given boxes or conditions, or on the conditions model.
  if (!boxes_path.empty()) header.push_back({"boxes", FingerprintFile(boxes_path)});
  if (!conditions_path.empty()) header.push_back({"conditions", FingerprintFile(conditions_path)});
  if (conditions_model != nullptr) {
    const Network& bu = *conditions_model->network;
    header.push_back({"conditions_model", FingerprintFile(conditions_model->weights_path)});
    header.push_back({"conditions_model_config", FingerprintText(conditions_model->spec.config_text)});
    header.push_back({"conditions_model_precision", bu.precision()});
    header.push_back({"conditions_model_layout", LayoutName(bu)});
  }
  if (ctd_tracking) header.push_back({"ctd_tracking", DescribeCtdTrackingOptions(tracking)});
  return header;
}

ResumePlan PlanResume(const std::string& out_base, JournalHeader header, int batch_size, size_t ncols, bool resume,
                      const std::string& video, int64_t start_frame, bool with_boxes, const MessageSink& say) {
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
                     std::to_string(found.rows()) + " frames in " + std::to_string(found.chunks) + " chunks from " +
                     plan.path;
  if (found.discarded_bytes > 0) {
    text += "; discarded a torn or corrupt tail of " + std::to_string(found.discarded_bytes) + " bytes";
  }
  say(MessageLevel::kNote, text + ")");
  plan.previous = std::move(found);
  plan.continue_previous = true;
  return plan;
}

}  // namespace posebatch
