// The labeled video of an analysis pass (`analyze --labeled-video`): frames are decoded once.
// The decode thread copies each frame it delivers into a FrameStash (TeeFrames); the writer
// stage, when it writes that frame's row, takes the copy, draws the row on it and encodes it
// (CreateLabelingWriter), then gives the buffer back for reuse. The stash holds only the frames
// between decode and write, which the pipeline's own back-pressure bounds (its frame pool,
// batch slots and result queues): memory stays flat whatever the video's length.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "posebatch/frame_source.h"
#include "posebatch/labeled_video.h"
#include "posebatch/options.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch::viz {

// Frames in flight between the decode thread and the writer. Thread-safe.
class FrameStash {
 public:
  struct Entry {
    int64_t index = -1;
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;
  };
  // Copies `frame` in (into a recycled buffer when one is free).
  void Put(const Frame& frame);
  // The copy of frame `index`, if the stash has it; earlier frames still held (none in order)
  // are dropped. Returns false when it was not stashed (a lost frame).
  bool Take(int64_t index, Entry* out);
  // Gives a taken entry's buffer back.
  void Recycle(Entry&& entry);
  size_t held() const;     // frames held now
  size_t peak() const;     // most frames held at once
  size_t buffers() const;  // buffers allocated (held + free)

 private:
  mutable std::mutex mu_;
  std::deque<Entry> held_;
  std::vector<std::vector<uint8_t>> free_;
  size_t peak_ = 0, buffers_ = 0;
};

// A FrameSource that delivers `inner`'s frames and stashes a copy of each. Same thread rules as
// `inner` (one thread calls Next). `inner` must outlive it.
std::unique_ptr<FrameSource> TeeFrames(FrameSource& inner, std::shared_ptr<FrameStash> stash);

struct RendererOptions;  // viz/label_renderer.h (cairo's header stays out of this one)

// The renderer's size, rate and quality for frames like `info`'s; with a crop, the offset that
// puts crop-relative coordinates on the full frame.
RendererOptions RendererOptionsFor(const SourceInfo& info, const LabeledVideoOptions& options, const Crop& crop);

// CreateLabeledVideo (labeled_video.h) for an analysis's own .h5: with the model config's
// project settings when options name none, and the run's crop.
Status LabelFromH5(const std::string& h5_path, const std::string& video_path, const std::string& output_path,
                   const LabeledVideoOptions& options, const std::string& model_config_text, const Crop& crop,
                   std::string* written, std::vector<std::string>* notes);

// The writer that makes `path` (<stem><scorer>_labeled.mp4) from the rows written to it and the
// stashed frames. `layout`: the run's columns; `info`: the video; `model_config_text`: the
// model's config (its project's config.yaml gives pcutoff, dotsize, colormap, skeleton when
// found); `crop`: the analysed rectangle (coordinates are relative to it). Not thread-safe (the
// pipeline's writer thread). Commit renames the mp4 into place; Abort removes it. `notes`
// receives remarks (encoder fallback, skeleton) at creation.
std::unique_ptr<PoseWriter> CreateLabelingWriter(const std::string& path, const ColumnLayout& layout,
                                                 const SourceInfo& info, const LabeledVideoOptions& options,
                                                 const std::string& model_config_text, const Crop& crop,
                                                 std::shared_ptr<FrameStash> stash, std::vector<std::string>* notes);

// What --labeled-video adds to a run, in the same pass: `source` delivers `inner`'s frames and
// stashes a copy of each; `writer` (one of the run's writers, beside the .h5) draws each
// stashed frame with its row and encodes it at `path`. Arguments as CreateLabelingWriter's.
// The run reads `source` instead of `inner`; `inner` must outlive both.
struct LabeledPass {
  std::unique_ptr<FrameSource> source;
  std::unique_ptr<PoseWriter> writer;
};
LabeledPass AddLabeledPass(FrameSource& inner, const std::string& path, const ColumnLayout& layout,
                           const LabeledVideoOptions& options, const std::string& model_config_text, const Crop& crop,
                           std::vector<std::string>* notes);

}  // namespace posebatch::viz
