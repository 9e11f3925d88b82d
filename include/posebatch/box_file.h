// Boxes given per frame instead of a top-down model's detector (analyze --boxes).
// Code: src/io/box_file.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "posebatch/detector.h"

namespace posebatch {

// Boxes given per frame instead of a detector (top-down models). Implementations must be
// safe to call from the decode thread while the caller waits in RunPipeline.
class BoxProvider {
 public:
  virtual ~BoxProvider() = default;
  // Boxes (x, y, w, h in frame pixels, best first) for frame `index` (videos) or the image
  // `label`; none when the frame has no entry.
  virtual Detections BoxesFor(int64_t index, const std::string& label) const = 0;
};

// Reads boxes from a JSON (or YAML) file: a mapping from frame number or image path to a list
// of [x, y, w, h] or [x, y, w, h, score]. Throws Error naming the file and the entry.
std::unique_ptr<BoxProvider> LoadBoxes(const std::string& path);

}  // namespace posebatch
