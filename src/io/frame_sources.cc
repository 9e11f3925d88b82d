// Video and image-list frame sources on top of FfmpegDecoder.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "io/ffmpeg_decoder.h"
#include "posebatch/frame_source.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

class VideoSource : public FrameSource {
 public:
  VideoSource(const std::string& path, const DecodeOptions& options)
      : decoder_(path, options.decoder_threads), options_(options) {
    if (options.start_frame < 0) {
      throw Error(Status::InvalidArgument(path + ": start frame must be >= 0"));
    }
    if (options.stop_frame >= 0 && options.stop_frame < options.start_frame) {
      throw Error(Status::InvalidArgument(path + ": frame range stop is before start"));
    }
    info_.path = path;
    info_.is_video = true;
    info_.width = decoder_.width();
    info_.height = decoder_.height();
    info_.fps = decoder_.fps();
    info_.frame_count = decoder_.declared_frames();
    info_.codec = decoder_.codec_name();
    int64_t end = decoder_.expected_frames();  // without the samples an edit list hides
    if (options.stop_frame >= 0 && (end < 0 || options.stop_frame < end)) end = options.stop_frame;
    info_.first_index = options.start_frame;
    info_.to_deliver = end < 0 ? -1 : std::max<int64_t>(0, end - options.start_frame);
  }

  const SourceInfo& info() const override { return info_; }

  bool Next(Frame* frame) override {
    if (ended_) return false;
    while (true) {
      // Frames before the range are decoded (their numbers come from the timeline) and dropped
      // without conversion.
      if (!decoder_.Next(frame, /*convert_from=*/options_.start_frame)) {
        // A count estimated from the duration (a container without one: mkv) is only an estimate
        // (a clip cut by stream copy spans more frame periods than it has frames); at the end
        // the timeline's own length replaces it, so that nothing reports frames it never held.
        if (!decoder_.frame_count_exact()) {
          info_.to_deliver = std::max<int64_t>(0, End().timeline_end - options_.start_frame);
        }
        break;
      }
      if (options_.stop_frame >= 0 && frame->index >= options_.stop_frame) break;
      if (frame->index < options_.start_frame) continue;
      frame->label.clear();
      return true;
    }
    ended_ = true;
    return false;
  }

  StreamEnd End() const override {
    StreamEnd e;
    // Frames the file lacks after the last decoded one (truncation), in the range asked for.
    e.timeline_end = decoder_.TimelineEnd();
    if (options_.stop_frame >= 0) e.timeline_end = std::min(e.timeline_end, options_.stop_frame);
    e.rejected_packets = decoder_.rejected_packets();
    e.failed_frames = decoder_.failed_frames();
    for (const auto& range : decoder_.concealed()) {  // those inside the range asked for
      const int64_t first = std::max(range.first, options_.start_frame);
      const int64_t last = options_.stop_frame >= 0 ? std::min(range.second, options_.stop_frame - 1) : range.second;
      if (first <= last) e.concealed.emplace_back(first, last);
    }
    e.stop_reason = decoder_.stop_reason();
    return e;
  }

 private:
  FfmpegDecoder decoder_;
  DecodeOptions options_;
  SourceInfo info_;
  bool ended_ = false;
};

class ImageSource : public FrameSource {
 public:
  explicit ImageSource(std::vector<std::string> paths) : paths_(std::move(paths)) {
    if (paths_.empty()) throw Error(Status::InvalidArgument("no images to analyse"));
    for (const auto& p : paths_) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(p, ec)) {
        throw Error(Status::NotFound(p + ": no such image"));
      }
    }
    info_.path = std::filesystem::path(paths_[0]).parent_path().string();
    info_.is_video = false;
    info_.frame_count = static_cast<int64_t>(paths_.size());
    info_.to_deliver = info_.frame_count;
  }

  const SourceInfo& info() const override { return info_; }

  bool Next(Frame* frame) override {
    if (next_ >= paths_.size()) return false;
    const std::string& path = paths_[next_];
    FfmpegDecoder decoder(path, 1);
    if (!decoder.Next(frame)) {
      throw Error(Status::Corrupt(path + ": image holds no decodable picture"));
    }
    frame->index = static_cast<int64_t>(next_);
    frame->label = path;
    if (next_ == 0) {
      info_.width = frame->width;
      info_.height = frame->height;
    }
    ++next_;
    return true;
  }

 private:
  std::vector<std::string> paths_;
  SourceInfo info_;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<FrameSource> OpenVideo(const std::string& path, const DecodeOptions& options) {
  return std::make_unique<VideoSource>(path, options);
}

std::unique_ptr<FrameSource> OpenImages(std::vector<std::string> paths) {
  return std::make_unique<ImageSource>(std::move(paths));
}

bool IsImagePath(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<std::string> ListImages(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && IsImagePath(entry.path().string())) {
      out.push_back(entry.path().string());
    }
  }
  if (ec) throw Error(Status::IOError(dir + ": cannot list folder (" + ec.message() + ")"));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace posebatch
