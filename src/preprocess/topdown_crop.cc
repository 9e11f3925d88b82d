#include "preprocess/topdown_crop.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "posebatch/status.h"

namespace posebatch {
namespace {

// Python's round() on a float64: half to even (the default FE_TONEAREST mode).
int PyRound(double v) { return static_cast<int>(std::nearbyint(v)); }

// OpenCV's saturate_cast<short>(float): round half to even, then clamp.
int16_t SaturateShort(float v) {
  const long r = std::lrintf(v);
  return static_cast<int16_t>(std::clamp<long>(r, -32768, 32767));
}

uint8_t SaturateByte(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

// OpenCV's fixed-point bilinear weights: INTER_RESIZE_COEF_BITS = 11.
constexpr int kCoefBits = 11;
constexpr int kCoefScale = 1 << kCoefBits;

// The canvas column or row of each output position and its two fixed-point weights.
struct Tap {
  int i0, i1;      // canvas indices, already clamped
  int16_t w0, w1;  // weights of i0 and i1
};

// Horizontal taps, as cv::resize computes them (clamped at both borders: weight (1, 0)).
std::vector<Tap> HorizontalTaps(int src, int dst, double scale) {
  std::vector<Tap> taps(dst);
  for (int d = 0; d < dst; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (s < 0) f = 0, s = 0;
    if (s >= src - 1) f = 0, s = src - 1;
    taps[d] = {s, std::min(s + 1, src - 1), SaturateShort((1.f - f) * kCoefScale), SaturateShort(f * kCoefScale)};
  }
  return taps;
}

// Vertical taps: OpenCV does not reset the weight at the borders, it clamps the rows read.
std::vector<Tap> VerticalTaps(int src, int dst, double scale) {
  std::vector<Tap> taps(dst);
  for (int d = 0; d < dst; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    const int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    taps[d] = {std::clamp(s, 0, src - 1), std::clamp(s + 1, 0, src - 1), SaturateShort((1.f - f) * kCoefScale),
               SaturateShort(f * kCoefScale)};
  }
  return taps;
}

int16_t Sat16(int v) { return static_cast<int16_t>(std::clamp(v, -32768, 32767)); }
int MulHi16(int16_t a, int16_t b) { return (static_cast<int>(a) * static_cast<int>(b)) >> 16; }

// Calls emit(dy, row) for every output row of the 8-bit RGB crop (row: 3*out_w bytes).
template <typename Emit>
void ResizeCrop(const Frame& frame, const CropPlan& p, Emit emit) {
  const int sw = p.canvas_w(), sh = p.canvas_h(), dw = p.out_w, dh = p.out_h;
  const int n = 3 * dw;
  thread_local std::vector<uint8_t> row;
  row.resize(n);
  // The canvas pixel (r, c) is the frame's (y1 + r - pad_top, x1 + c - pad_left) inside the
  // box, zero outside.
  const auto canvas_row = [&](int r) -> const uint8_t* {
    const int fy = r - p.pad_top;
    if (fy < 0 || fy >= p.h) return nullptr;
    return frame.rgb.data() + (static_cast<size_t>(p.y1 + fy) * frame.width + p.x1) * 3;
  };
  const auto pixel = [&](const uint8_t* src_row, int c, int k) -> int {
    const int fx = c - p.pad_left;
    return (src_row == nullptr || fx < 0 || fx >= p.w) ? 0 : src_row[3 * fx + k];
  };
  const double inv_x = static_cast<double>(dw) / sw, inv_y = static_cast<double>(dh) / sh;
  const double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
  const auto near = [](double a, double b) { return std::abs(a - b) < 2.220446049250313e-16; };
  if (near(scale_x, 2) && near(scale_y, 2)) {
    // cv::resize turns an exact 2x INTER_LINEAR downscale into its fast INTER_AREA path.
    for (int dy = 0; dy < dh; ++dy) {
      const uint8_t* r0 = canvas_row(2 * dy);
      const uint8_t* r1 = canvas_row(2 * dy + 1);
      for (int dx = 0; dx < dw; ++dx) {
        for (int k = 0; k < 3; ++k) {
          const int s =
              pixel(r0, 2 * dx, k) + pixel(r0, 2 * dx + 1, k) + pixel(r1, 2 * dx, k) + pixel(r1, 2 * dx + 1, k);
          row[3 * dx + k] = static_cast<uint8_t>((s + 2) >> 2);
        }
      }
      emit(dy, row.data());
    }
    return;
  }
  const std::vector<Tap> xt = HorizontalTaps(sw, dw, scale_x);
  const std::vector<Tap> yt = VerticalTaps(sh, dh, scale_y);
  // Horizontal pass results (OpenCV's int buffer rows), two cached canvas rows.
  thread_local std::vector<int> hbuf[2];
  int cached[2] = {-1, -1};
  for (auto& b : hbuf) b.resize(n);
  const auto horizontal = [&](int r) -> const int* {
    for (int i = 0; i < 2; ++i) {
      if (cached[i] == r) return hbuf[i].data();
    }
    const int slot = (cached[0] == -1 || (cached[1] != -1 && cached[0] < cached[1])) ? 0 : 1;
    const uint8_t* src = canvas_row(r);
    int* d = hbuf[slot].data();
    for (int dx = 0; dx < dw; ++dx) {
      const Tap& t = xt[dx];
      for (int k = 0; k < 3; ++k) d[3 * dx + k] = pixel(src, t.i0, k) * t.w0 + pixel(src, t.i1, k) * t.w1;
    }
    cached[slot] = r;
    return d;
  };
  for (int dy = 0; dy < dh; ++dy) {
    const Tap& t = yt[dy];
    const int* s0 = horizontal(t.i0);
    const int* s1 = horizontal(t.i1);
    // OpenCV's vector vertical pass (VResizeLinearVec_32s8u), which covers whole rows: 16-bit
    // products of (sum >> 4) and the weight, high halves added, rounded shift by 2. It rounds
    // differently from exact fixed point ((s0*w0 + s1*w1 + 2^21) >> 22) by one now and then.
    for (int x = 0; x < n; ++x) {
      const int v = Sat16(MulHi16(Sat16(s0[x] >> 4), t.w0) + MulHi16(Sat16(s1[x] >> 4), t.w1));
      row[x] = SaturateByte((v + 2) >> 2);
    }
    emit(dy, row.data());
  }
}

}  // namespace

CropPlan PlanTopDownCrop(const std::array<double, 4>& box, int frame_w, int frame_h, const TopDownCropSpec& spec) {
  double w = box[2], h = box[3];
  const double cx = box[0] + w / 2, cy = box[1] + h / 2;
  w += 2 * spec.margin;
  h += 2 * spec.margin;
  const double out_ratio = static_cast<double>(spec.width) / spec.height;
  if (spec.with_context) {
    const double in_ratio = w / h;
    if (in_ratio > out_ratio) {
      h = w / out_ratio;
    } else if (in_ratio < out_ratio) {
      w = h * out_ratio;
    }
  }
  CropPlan p;
  p.out_w = spec.width;
  p.out_h = spec.height;
  int x1 = PyRound(cx - w / 2), y1 = PyRound(cy - h / 2);
  int x2 = PyRound(cx + w / 2), y2 = PyRound(cy + h / 2);
  int pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
  if (x1 < 0) pad_left = -x1, x1 = 0;
  if (x2 > frame_w) pad_right = x2 - frame_w, x2 = frame_w;
  if (y1 < 0) pad_top = -y1, y1 = 0;
  if (y2 > frame_h) pad_bottom = y2 - frame_h, y2 = frame_h;
  const int cw = x2 - x1, ch = y2 - y1;
  if (!spec.with_context && ch != 0) {
    // DeepLabCut pads symmetrically to the output ratio; both branches measure the missing
    // amount as (w - h * ratio), exact for square outputs, and int() truncates.
    const double in_ratio = static_cast<double>(cw) / ch;
    if (in_ratio > out_ratio) {
      const int pad = static_cast<int>(cw - ch * out_ratio) / 2;
      pad_top += pad;
      pad_bottom += pad;
    } else if (in_ratio < out_ratio) {
      const int pad = static_cast<int>(ch - cw / out_ratio) / 2;
      pad_left += pad;
      pad_right += pad;
    }
  }
  p.x1 = x1;
  p.y1 = y1;
  p.w = std::max(cw, 0);
  p.h = std::max(ch, 0);
  p.pad_left = pad_left;
  p.pad_top = pad_top;
  p.pad_x = pad_left + pad_right;
  p.pad_y = pad_top + pad_bottom;
  if (p.canvas_w() <= 0 || p.canvas_h() <= 0 || cw < 0 || ch < 0) {
    throw Error(Status::InvalidArgument("top-down crop: box (" + std::to_string(box[0]) + ", " +
                                        std::to_string(box[1]) + ", " + std::to_string(box[2]) + ", " +
                                        std::to_string(box[3]) + ") leaves no pixel to crop in the " +
                                        std::to_string(frame_w) + "x" + std::to_string(frame_h) + " frame"));
  }
  p.transform.offset_x = x1 - pad_left;
  p.transform.offset_y = y1 - pad_top;
  p.transform.scale_x = static_cast<double>(p.canvas_w()) / spec.width;
  p.transform.scale_y = static_cast<double>(p.canvas_h()) / spec.height;
  return p;
}

TopDownCropper::TopDownCropper(const InputSpec& input) : bgr_(input.bgr) {
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      // DeepLabCut normalizes the resized 8-bit crop: x / 255, then (x - mean) / std, float32.
      const float x = static_cast<float>(v) / 255.0f;
      lut_[c][v] = input.normalize ? (x - input.mean[c]) / input.std[c] : static_cast<float>(v);
    }
  }
}

void TopDownCropper::WriteBytes(const Frame& frame, const CropPlan& plan, uint8_t* out) const {
  const size_t n = 3 * static_cast<size_t>(plan.out_w);
  ResizeCrop(frame, plan, [&](int dy, const uint8_t* row) { std::copy(row, row + n, out + dy * n); });
}

void TopDownCropper::Write(const Frame& frame, const CropPlan& plan, float* out, InputLayout layout) const {
  // Channel order of the input: RGB unless the model was trained on BGR.
  const int c0 = bgr_ ? 2 : 0, c2 = bgr_ ? 0 : 2;
  const auto& l0 = lut_[0];
  const auto& l1 = lut_[1];
  const auto& l2 = lut_[2];
  const int dw = plan.out_w;
  const size_t plane = static_cast<size_t>(dw) * plan.out_h;
  ResizeCrop(frame, plan, [&](int dy, const uint8_t* row) {
    if (layout == InputLayout::kNHWC) {
      float* o = out + static_cast<size_t>(dy) * dw * 3;
      for (int x = 0; x < dw; ++x) {
        o[3 * x] = l0[row[3 * x + c0]];
        o[3 * x + 1] = l1[row[3 * x + 1]];
        o[3 * x + 2] = l2[row[3 * x + c2]];
      }
    } else {
      float* r = out + static_cast<size_t>(dy) * dw;
      float* g = r + plane;
      float* b = g + plane;
      for (int x = 0; x < dw; ++x) {
        r[x] = l0[row[3 * x + c0]];
        g[x] = l1[row[3 * x + 1]];
        b[x] = l2[row[3 * x + c2]];
      }
    }
  });
}

}  // namespace posebatch
