#include "preprocess/normalize.h"

#include "posebatch/status.h"

namespace posebatch {
namespace {

// Reflect-101 index into [0, n): -1 -> 1, n -> n-2.
int Reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
  }
  return i;
}

int RoundUp(int v, int multiple) { return multiple > 0 ? (v + multiple - 1) / multiple * multiple : v; }

}  // namespace

InputGeometry ComputeGeometry(int frame_w, int frame_h, const PreprocessOptions& options,
                              const InputSpec& input, const std::string& source_name) {
  InputGeometry g;
  g.src_w = frame_w;
  g.src_h = frame_h;
  if (options.crop.enabled()) {
    const Crop& c = options.crop;
    if (c.x1 < 0 || c.y1 < 0 || c.x2 > frame_w || c.y2 > frame_h) {
      throw Error(Status::InvalidArgument(
          source_name + ": crop " + std::to_string(c.x1) + "," + std::to_string(c.x2) + "," +
          std::to_string(c.y1) + "," + std::to_string(c.y2) + " does not fit the " +
          std::to_string(frame_w) + "x" + std::to_string(frame_h) + " frame"));
    }
    g.src_x = c.x1;
    g.src_y = c.y1;
    g.src_w = c.x2 - c.x1;
    g.src_h = c.y2 - c.y1;
  }
  g.width = RoundUp(g.src_w, input.pad_multiple);
  g.height = RoundUp(g.src_h, input.pad_multiple);
  return g;
}

Normalizer::Normalizer(const InputSpec& input) : bgr_(input.bgr) {
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      // DeepLabCut: image.astype(float32) / 255, then (x - mean) / std, in float32.
      float x = static_cast<float>(v) / 255.0f;
      lut_[c][v] = input.normalize ? (x - input.mean[c]) / input.std[c] : static_cast<float>(v);
    }
  }
}

void Normalizer::Write(const Frame& frame, const InputGeometry& g, float* out) const {
  const size_t plane = static_cast<size_t>(g.width) * g.height;
  float* planes[3] = {out, out + plane, out + 2 * plane};
  const int row_bytes = 3 * frame.width;
  for (int y = 0; y < g.height; ++y) {
    const int sy = g.src_y + Reflect101(y, g.src_h);
    const uint8_t* row = frame.rgb.data() + static_cast<size_t>(sy) * row_bytes + 3 * g.src_x;
    float* r = planes[0] + static_cast<size_t>(y) * g.width;
    float* gg = planes[1] + static_cast<size_t>(y) * g.width;
    float* b = planes[2] + static_cast<size_t>(y) * g.width;
    // Channel order of the input: RGB unless the model was trained on BGR.
    const int c0 = bgr_ ? 2 : 0, c2 = bgr_ ? 0 : 2;
    const auto& l0 = lut_[0];
    const auto& l1 = lut_[1];
    const auto& l2 = lut_[2];
    for (int x = 0; x < g.src_w; ++x) {
      const uint8_t* px = row + 3 * x;
      r[x] = l0[px[c0]];
      gg[x] = l1[px[1]];
      b[x] = l2[px[c2]];
    }
    for (int x = g.src_w; x < g.width; ++x) {
      const uint8_t* px = row + 3 * Reflect101(x, g.src_w);
      r[x] = l0[px[c0]];
      gg[x] = l1[px[1]];
      b[x] = l2[px[c2]];
    }
  }
}

}  // namespace posebatch
