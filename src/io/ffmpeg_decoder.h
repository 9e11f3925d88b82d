// A thin RAII wrapper over libavformat/libavcodec/swscale that yields RGB24 frames in
// presentation order. Used by the video source and (one frame per file) the image source.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "posebatch/frame_source.h"

struct AVFormatContext;
struct AVCodecContext;
struct AVFrame;
struct AVPacket;
struct SwsContext;

namespace posebatch {

// swscale's vector code stores whole vectors: converting to RGB24 a row whose width is not a
// multiple of 16 pixels writes up to 45 bytes past the row's end (FFmpeg 5.1, every input format
// it takes; test_io measures it). A buffer it writes into keeps this much slack past its size,
// or the overrun lands on the heap's next block (found by fuzz_video as heap corruption).
constexpr size_t kSwscaleSlack = 128;

// Not thread-safe.
class FfmpegDecoder {
 public:
  // Opens `path`; throws Error (kNotFound, kCorrupt) naming the file.
  FfmpegDecoder(const std::string& path, int threads);
  ~FfmpegDecoder();
  FfmpegDecoder(const FfmpegDecoder&) = delete;
  FfmpegDecoder& operator=(const FfmpegDecoder&) = delete;

  // Decodes the next frame and sets frame->index to its number: frames are counted in the
  // order they are decoded (0, 1, 2, ... as OpenCV, and so DeepLabCut, counts them), and a frame
  // skips numbers only where damage cost frames just before it (see TimelineIndex). The pixels
  // are converted only from frame `convert_from` on (skipping frames cheaply). Returns false at
  // the end of the stream, or where the file stops being readable (stop_reason()).
  bool Next(Frame* frame, int64_t convert_from = 0);

  int width() const;
  int height() const;
  double fps() const { return fps_; }
  // The frame count the container states (its index's sample count, else an estimate from the
  // duration; -1 if unknown): what OpenCV reports as CAP_PROP_FRAME_COUNT, edit list or not.
  int64_t declared_frames() const { return declared_frames_; }
  // Of those, the frames the file presents: an mp4 edit list (a clip cut with stream copy off a
  // keyframe) hides the samples before the cut, which the demuxer marks and the decoder drops.
  int64_t expected_frames() const { return declared_frames_ < 0 ? -1 : declared_frames_ - hidden_frames_; }
  const std::string& codec_name() const { return codec_name_; }
  // True when the container says exactly how many frames the stream has (an index: mp4, avi),
  // false when declared_frames() is an estimate from the duration.
  bool frame_count_exact() const { return frame_count_exact_; }
  // Damage seen so far: packets the decoder rejected, frames it failed to decode, and why
  // reading stopped before the end of the file (empty when it did not).
  int64_t rejected_packets() const { return rejected_packets_; }
  int64_t last_index() const { return last_index_; }  // number of the last frame decoded, or -1
  int64_t failed_frames() const { return failed_frames_; }
  const std::string& stop_reason() const { return stop_reason_; }
  // After the last frame: one past the last frame number the file holds. Beyond last_index()
  // only where frames are missing after it: damage was met or the container's index lists
  // packets that were never read (a truncated file: its frame count is trusted), or the
  // duration goes on more than a frame past the last frame's timestamp.
  int64_t TimelineEnd() const;
  // Frames produced by error concealment (FFmpeg flagged them corrupt), as ranges of numbers.
  const std::vector<std::pair<int64_t, int64_t>>& concealed() const { return concealed_; }

 private:
  void Open(int threads);   // the constructor's work; may throw
  void Release() noexcept;  // frees whatever is allocated (constructor failure, destructor)
  bool ReceiveFrame();      // true when frame_ holds a new frame
  int64_t TimelineIndex();  // frame_'s number, after the previous frame's
  int64_t FramesBetween(int64_t from_ts, int64_t to_ts) const;  // frame periods, rounded
  void ConvertTo(Frame* frame);
  [[noreturn]] void Fail(const std::string& what, int av_error) const;

  std::string path_;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* sws_ = nullptr;
  int stream_index_ = -1;
  bool draining_ = false;
  bool finished_ = false;
  double fps_ = 0;
  int64_t declared_frames_ = -1;
  bool frame_count_exact_ = false;
  double time_base_ = 0;          // seconds per timestamp unit
  int64_t hidden_frames_ = 0;     // samples an edit list hides (counted in declared_frames_)
  int64_t start_ts_ = INT64_MIN;  // the stream's start time, if the container gives one
  int64_t end_ts_ = INT64_MIN;    // where the container says the stream ends, if it does
  int64_t packets_read_ = 0;      // packets of the video stream the demuxer delivered
  int64_t last_ts_ = INT64_MIN;   // the latest timestamp of a frame so far
  int64_t last_index_ = -1;
  int64_t damage_seen_ = 0;      // rejected packets + failed frames already accounted
  int64_t unplaced_losses_ = 0;  // frames damage cost that no gap has shown yet
  int64_t frames_since_damage_ = 0;
  int64_t rejected_packets_ = 0;
  int64_t failed_frames_ = 0;
  std::string stop_reason_;
  std::vector<std::pair<int64_t, int64_t>> concealed_;
  std::string codec_name_;
};

}  // namespace posebatch
