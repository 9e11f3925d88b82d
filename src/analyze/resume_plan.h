// The resume journal of one video: what its rows depend on (the journal header), and whether
// this run continues an interrupted one (--resume with a matching, intact journal).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "io/resume_journal.h"
#include "posebatch/analyze.h"
#include "posebatch/model.h"
#include "posebatch/writer.h"

namespace posebatch {

using MessageSink = std::function<void(MessageLevel, const std::string&)>;

struct ResumePlan {
  std::string path;  // <out_base>.resume
  JournalHeader header;
  int64_t chunk_rows = 0;
  bool continue_previous = false;
  bool with_boxes = false;   // rows carry their frame's boxes (top-down, CTD: for _full.pickle)
  JournalContents previous;  // the rows to replay when continue_previous
};

// Everything the rows of `video` depend on; a journal whose header differs is stale.
// `model_fingerprint`: FingerprintFile of the weights (computed once per run by the caller).
JournalHeader JournalHeaderFor(const std::string& model_fingerprint, const Model& model, const std::string& video,
                               const ColumnLayout& layout, const AnalyzeOptions& options,
                               const Model* conditions_model);

// Decides whether this run continues an interrupted one, and says why through `say`.
ResumePlan PlanResume(const std::string& out_base, JournalHeader header, int batch_size, size_t ncols, bool resume,
                      const std::string& video, int64_t start_frame, bool with_boxes, const MessageSink& say);

}  // namespace posebatch
