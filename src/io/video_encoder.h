// H.264 (libx264) video files from RGB frames, with libavcodec / libavformat: the labeled
// videos. Written under a temporary name (<path>.part) and renamed when finished, so a failed
// or interrupted run never leaves a half-written video under the final name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace posebatch {

enum class EncoderPixels {
  kRgb24,  // packed R, G, B bytes
  kBgr0,   // 32-bit pixels B, G, R, unused (cairo's CAIRO_FORMAT_RGB24 on little-endian)
};

struct VideoEncoderOptions {
  int width = 0;  // pixels (an odd size is padded by one black column/row)
  int height = 0;
  double fps = 30;                  // constant frame rate of the output (the input's)
  int crf = 18;                     // libx264 quality (lower is better; 18 is visually lossless)
  std::string preset = "veryfast";  // libx264 speed preset
  int threads = 1;                  // encoder threads (1: stays off the inference cores)
  EncoderPixels pixels = EncoderPixels::kRgb24;
};

// Not thread-safe: one thread writes.
class VideoEncoder {
 public:
  // Opens `<path>.part` for an mp4 (H.264 via libx264; where FFmpeg has no libx264, MPEG-4
  // part 2, with a note in fallback_note()). Throws Error naming the file.
  VideoEncoder(const std::string& path, const VideoEncoderOptions& options);
  ~VideoEncoder();  // aborts if neither Finish nor Abort was called
  VideoEncoder(const VideoEncoder&) = delete;
  VideoEncoder& operator=(const VideoEncoder&) = delete;

  // Encodes one frame: `stride` bytes per row, width x height pixels in options.pixels.
  void Write(const uint8_t* pixels, int stride);
  // Flushes the encoder, writes the trailer, renames <path>.part to <path>. Throws Error.
  void Finish();
  // Removes <path>.part. Never throws.
  void Abort() noexcept;

  const std::string& path() const;
  int64_t frames_written() const;
  const std::string& codec_name() const;     // "libx264" or the fallback's name
  const std::string& fallback_note() const;  // empty when libx264 was found

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace posebatch
