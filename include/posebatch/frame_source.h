// Sources of frames: videos (FFmpeg) and lists of images, read in order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "posebatch/options.h"

namespace posebatch {

// One decoded image. Buffers are reused: a source refills the frame it is handed.
struct Frame {
  int64_t index = -1;        // frame number in the video, or position in the image list
  int width = 0;             // pixels
  int height = 0;            // pixels
  std::vector<uint8_t> rgb;  // packed RGB24, rows of 3*width bytes, no padding
  std::string label;         // image path (image sources); empty for videos
};

struct SourceInfo {
  std::string path;          // the video file, or the first image's folder
  bool is_video = true;      // false for image lists
  int width = 0;             // first frame's width (videos: all frames')
  int height = 0;            // first frame's height
  double fps = 0;            // frames per second from the container (videos)
  int64_t frame_count = -1;  // frames the container declares (all of them), -1 if unknown
  int64_t to_deliver = -1;   // frames Next() is expected to deliver (range applied), -1 unknown
  std::string codec;         // decoder name (videos)
};

// Not thread-safe: one thread calls Next().
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual const SourceInfo& info() const = 0;
  // Fills *frame with the next frame, in order. Returns false at the end of the stream.
  // Throws Error (naming the file and the frame) on failure.
  virtual bool Next(Frame* frame) = 0;
};

// Opens a video with FFmpeg. Throws Error (kNotFound / kCorrupt) naming the file.
std::unique_ptr<FrameSource> OpenVideo(const std::string& path, const DecodeOptions& options);

// Reads the images (PNG / JPEG) in the order given; frame.label is the path.
std::unique_ptr<FrameSource> OpenImages(std::vector<std::string> paths);

// True for .png, .jpg, .jpeg (any case).
bool IsImagePath(const std::string& path);

// The image files of a folder in file-name order (DeepLabCut's analyze_images order).
std::vector<std::string> ListImages(const std::string& dir);

}  // namespace posebatch
