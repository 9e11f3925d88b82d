// Sources of frames: videos (FFmpeg) and lists of images, read in order.
// Code: src/io/frame_sources.cc (FFmpeg: src/io/ffmpeg_decoder.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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
  int64_t first_index = 0;   // number of the first frame of the range (--frames START)
  int64_t to_deliver = -1;   // frames in the range (the timeline's, lost ones too), -1 unknown
  std::string codec;         // decoder name (videos)
};

// What a source knows once Next() has returned false: where its timeline ends and what
// damage it met on the way.
struct StreamEnd {
  int64_t timeline_end = -1;     // one past the last frame number the stream holds, -1 unknown
  int64_t rejected_packets = 0;  // packets the decoder refused (damaged data)
  int64_t failed_frames = 0;     // frames the decoder failed to produce
  // Frames the decoder produced from damaged data by concealment (analysed, but their pixels
  // are partly guessed), as ranges of frame numbers [first, last].
  std::vector<std::pair<int64_t, int64_t>> concealed;
  std::string stop_reason;  // why reading stopped before the end of the file; empty if not
};

// Not thread-safe: one thread calls Next().
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual const SourceInfo& info() const = 0;
  // Fills *frame with the next decodable frame, in order. frame->index is the frame's number
  // on the source's timeline: numbers only grow, and a frame that could not be decoded leaves
  // its number out (a gap), so the frames after it keep their true numbers. Returns false at
  // the end of the stream. Throws Error (naming the file and the frame) on failure.
  virtual bool Next(Frame* frame) = 0;
  // After Next() returned false. Sources without a timeline (images) report nothing.
  virtual StreamEnd End() const { return {}; }
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
