// A thin RAII wrapper over libavformat/libavcodec/swscale that yields RGB24 frames in
// presentation order. Used by the video source and (one frame per file) the image source.
#pragma once

#include <cstdint>
#include <string>

#include "posebatch/frame_source.h"

struct AVFormatContext;
struct AVCodecContext;
struct AVFrame;
struct AVPacket;
struct SwsContext;

namespace posebatch {

// Not thread-safe.
class FfmpegDecoder {
 public:
  // Opens `path`; throws Error (kNotFound, kCorrupt) naming the file.
  FfmpegDecoder(const std::string& path, int threads);
  ~FfmpegDecoder();
  FfmpegDecoder(const FfmpegDecoder&) = delete;
  FfmpegDecoder& operator=(const FfmpegDecoder&) = delete;

  // Decodes the next frame. With convert=false the pixels are not converted (used to skip
  // frames cheaply). Returns false at the end of the stream.
  bool Next(Frame* frame, bool convert);

  int width() const;
  int height() const;
  double fps() const { return fps_; }
  int64_t declared_frames() const { return declared_frames_; }
  const std::string& codec_name() const { return codec_name_; }
  // Packets the decoder rejected as invalid so far (damaged data).
  int64_t rejected_packets() const { return rejected_packets_; }

 private:
  void Open(int threads);   // the constructor's work; may throw
  void Release() noexcept;  // frees whatever is allocated (constructor failure, destructor)
  bool ReceiveFrame();  // true when frame_ holds a new frame
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
  int64_t rejected_packets_ = 0;
  std::string codec_name_;
};

}  // namespace posebatch
