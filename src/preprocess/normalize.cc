#include "preprocess/normalize.h"

#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "posebatch/status.h"
#include "preprocess/reflect101.h"

namespace posebatch {
namespace {

// Copies n floats with non-temporal stores: a batch row is written once and read later by
// inference, so caching it only evicts useful lines, and streaming skips the read-for-ownership
// of every destination line. This keeps the cost per frame the same whatever the batch size
// (a large slot no longer fits in cache anyway).
void StreamStore(float* dst, const float* src, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  while (i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0) {
    dst[i] = src[i];
    ++i;
  }
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

// Makes the streamed stores visible before the row is handed to inference.
void StoreFence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

int RoundUp(int v, int multiple) { return multiple > 0 ? (v + multiple - 1) / multiple * multiple : v; }

}  // namespace

InputGeometry ComputeGeometry(int frame_w, int frame_h, const PreprocessOptions& options, const InputSpec& input,
                              const std::string& source_name) {
  InputGeometry g;
  g.src_w = frame_w;
  g.src_h = frame_h;
  if (options.crop.enabled()) {
    const Crop& c = options.crop;
    if (c.x1 < 0 || c.y1 < 0 || c.x2 > frame_w || c.y2 > frame_h) {
      throw Error(Status::InvalidArgument(source_name + ": crop " + std::to_string(c.x1) + "," + std::to_string(c.x2) +
                                          "," + std::to_string(c.y1) + "," + std::to_string(c.y2) +
                                          " does not fit the " + std::to_string(frame_w) + "x" +
                                          std::to_string(frame_h) + " frame"));
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
      if (input.normalize && input.albumentations) {
        const float mean = input.mean[c] * 255.0f, inv_std = 1.0f / (input.std[c] * 255.0f);
        lut_[c][v] = (static_cast<float>(v) - mean) * inv_std;
      }
    }
  }
}

void Normalizer::Write(const Frame& frame, const InputGeometry& g, float* out, InputLayout layout) const {
  // Channel order of the input: RGB unless the model was trained on BGR.
  const int c0 = bgr_ ? 2 : 0, c2 = bgr_ ? 0 : 2;
  const auto& l0 = lut_[0];
  const auto& l1 = lut_[1];
  const auto& l2 = lut_[2];
  const int row_bytes = 3 * frame.width;
  const size_t plane = static_cast<size_t>(g.width) * g.height;
  // Each output line is built in a small buffer (cache-resident), then streamed to the slot.
  thread_local std::vector<float> line;
  line.resize(3 * static_cast<size_t>(g.width));
  float* l = line.data();
  for (int y = 0; y < g.height; ++y) {
    const int sy = g.src_y + Reflect101(y, g.src_h);
    const uint8_t* row = frame.rgb.data() + static_cast<size_t>(sy) * row_bytes + 3 * g.src_x;
    const auto pixel = [&](int x) { return row + 3 * (x < g.src_w ? x : Reflect101(x, g.src_w)); };
    if (layout == InputLayout::kNHWC) {
      for (int x = 0; x < g.width; ++x) {
        const uint8_t* px = pixel(x);
        l[3 * x] = l0[px[c0]];
        l[3 * x + 1] = l1[px[1]];
        l[3 * x + 2] = l2[px[c2]];
      }
      StreamStore(out + static_cast<size_t>(y) * g.width * 3, l, line.size());
    } else {
      float* r = l;
      float* gg = l + g.width;
      float* b = l + 2 * g.width;
      for (int x = 0; x < g.width; ++x) {
        const uint8_t* px = pixel(x);
        r[x] = l0[px[c0]];
        gg[x] = l1[px[1]];
        b[x] = l2[px[c2]];
      }
      for (int c = 0; c < 3; ++c) {
        StreamStore(out + c * plane + static_cast<size_t>(y) * g.width, l + c * g.width, g.width);
      }
    }
  }
  StoreFence();
}

}  // namespace posebatch
