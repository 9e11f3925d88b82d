// Frame -> network input: crop, normalize, HWC->CHW and padding, written once into a
// caller-owned float buffer (a row of a batch slot).
#pragma once

#include <array>
#include <cstdint>

#include "posebatch/frame_source.h"
#include "posebatch/model.h"
#include "posebatch/options.h"

namespace posebatch {

// Size of the network input for a frame, and how to map predictions back.
struct InputGeometry {
  int src_x = 0, src_y = 0;   // top-left of the analysed region in the frame (crop)
  int src_w = 0, src_h = 0;   // analysed region size
  int width = 0, height = 0;  // network input size (region + padding)
  bool operator==(const InputGeometry& o) const {
    return src_x == o.src_x && src_y == o.src_y && src_w == o.src_w && src_h == o.src_h && width == o.width &&
           height == o.height;
  }
  bool operator!=(const InputGeometry& o) const { return !(*this == o); }
};

// Throws Error if the crop does not fit the frame.
InputGeometry ComputeGeometry(int frame_w, int frame_h, const PreprocessOptions& options, const InputSpec& input,
                              const std::string& source_name);

// Immutable once built: safe to share between preprocess workers.
class Normalizer {
 public:
  explicit Normalizer(const InputSpec& input);
  // Writes 3*g.height*g.width floats to `out`, planar (CHW) or interleaved (HWC). Padding
  // (bottom/right) reflects the image (OpenCV BORDER_REFLECT_101, as DeepLabCut's PadIfNeeded).
  void Write(const Frame& frame, const InputGeometry& g, float* out, InputLayout layout = InputLayout::kNCHW) const;

 private:
  std::array<std::array<float, 256>, 3> lut_;  // value per channel per byte: exact formula
  bool bgr_;
};

}  // namespace posebatch
