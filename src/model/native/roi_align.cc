#include "model/native/roi_align.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "posebatch/status.h"

namespace posebatch::native {
namespace {

// One sampling point of RoIAlign: the four neighbouring cells and their bilinear weights.
struct Sample {
  int64_t pos1 = 0, pos2 = 0, pos3 = 0, pos4 = 0;
  float w1 = 0, w2 = 0, w3 = 0, w4 = 0;
};

// The sampling points of one RoI, shared by all channels, in torchvision's order
// (bin row, bin column, grid row, grid column) and with its float arithmetic.
void PrecomputeSamples(int64_t height, int64_t width, int64_t pooled_h, int64_t pooled_w, float start_h, float start_w,
                       float bin_h, float bin_w, int64_t grid_h, int64_t grid_w, std::vector<Sample>& out) {
  size_t index = 0;
  for (int64_t ph = 0; ph < pooled_h; ++ph) {
    for (int64_t pw = 0; pw < pooled_w; ++pw) {
      for (int64_t iy = 0; iy < grid_h; ++iy) {
        const float yy = start_h + static_cast<float>(static_cast<int>(ph)) * bin_h +
                         static_cast<float>(static_cast<int>(iy) + .5f) * bin_h / static_cast<float>(grid_h);
        for (int64_t ix = 0; ix < grid_w; ++ix) {
          const float xx = start_w + static_cast<float>(static_cast<int>(pw)) * bin_w +
                           static_cast<float>(static_cast<int>(ix) + .5f) * bin_w / static_cast<float>(grid_w);
          float x = xx, y = yy;
          Sample s;
          // Points more than one cell outside the map contribute nothing.
          if (y < -1.0 || y > static_cast<double>(height) || x < -1.0 || x > static_cast<double>(width)) {
            out[index++] = s;
            continue;
          }
          if (y <= 0) y = 0;
          if (x <= 0) x = 0;
          int64_t y_low = static_cast<int>(y), x_low = static_cast<int>(x), y_high, x_high;
          if (y_low >= height - 1) {
            y_high = y_low = height - 1;
            y = static_cast<float>(y_low);
          } else {
            y_high = y_low + 1;
          }
          if (x_low >= width - 1) {
            x_high = x_low = width - 1;
            x = static_cast<float>(x_low);
          } else {
            x_high = x_low + 1;
          }
          const float ly = y - static_cast<float>(y_low), lx = x - static_cast<float>(x_low);
          const float hy = static_cast<float>(1. - ly), hx = static_cast<float>(1. - lx);
          s.pos1 = y_low * width + x_low;
          s.pos2 = y_low * width + x_high;
          s.pos3 = y_high * width + x_low;
          s.pos4 = y_high * width + x_high;
          s.w1 = hy * hx;
          s.w2 = hy * lx;
          s.w3 = ly * hx;
          s.w4 = ly * lx;
          out[index++] = s;
        }
      }
    }
  }
}

}  // namespace

at::Tensor RoIAlign(const at::Tensor& features, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
                    int64_t pooled_w, int64_t sampling_ratio, bool aligned) {
  if (features.dim() != 4 || rois.dim() != 2 || rois.size(1) != 5) {
    throw Error(Status::Internal("RoIAlign: features must be (N, C, H, W) and rois (K, 5)"));
  }
  const at::Tensor input = features.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor boxes = rois.to(at::kCPU, at::kFloat).contiguous();
  const int64_t n_rois = boxes.size(0), channels = input.size(1), height = input.size(2), width = input.size(3);
  at::Tensor output = at::zeros({n_rois, channels, pooled_h, pooled_w}, input.options());
  if (n_rois == 0) return output.to(features.device(), features.scalar_type());
  const float* in = input.data_ptr<float>();
  const float* roi_data = boxes.data_ptr<float>();
  float* out = output.data_ptr<float>();
  const float scale = static_cast<float>(spatial_scale);
  const float offset = aligned ? 0.5f : 0.0f;
  std::vector<Sample> samples;
  for (int64_t n = 0; n < n_rois; ++n) {
    const float* r = roi_data + n * 5;
    const int64_t batch = static_cast<int>(r[0]);
    if (batch < 0 || batch >= input.size(0)) throw Error(Status::Internal("RoIAlign: roi batch index out of range"));
    const float start_w = r[1] * scale - offset, start_h = r[2] * scale - offset;
    const float end_w = r[3] * scale - offset, end_h = r[4] * scale - offset;
    float roi_w = end_w - start_w, roi_h = end_h - start_h;
    if (!aligned) {  // malformed rois count as 1x1
      roi_w = std::max(roi_w, 1.0f);
      roi_h = std::max(roi_h, 1.0f);
    }
    const float bin_h = roi_h / static_cast<float>(pooled_h), bin_w = roi_w / static_cast<float>(pooled_w);
    const int64_t grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(std::ceil(roi_h / pooled_h));
    const int64_t grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(std::ceil(roi_w / pooled_w));
    const float count = static_cast<float>(std::max<int64_t>(grid_h * grid_w, 1));
    samples.assign(static_cast<size_t>(grid_h * grid_w * pooled_h * pooled_w), Sample{});
    PrecomputeSamples(height, width, pooled_h, pooled_w, start_h, start_w, bin_h, bin_w, grid_h, grid_w, samples);
    for (int64_t c = 0; c < channels; ++c) {
      const float* plane = in + (batch * channels + c) * height * width;
      float* dst = out + (n * channels + c) * pooled_h * pooled_w;
      size_t index = 0;
      for (int64_t bin = 0; bin < pooled_h * pooled_w; ++bin) {
        float value = 0.f;
        for (int64_t k = 0; k < grid_h * grid_w; ++k) {
          const Sample& s = samples[index++];
          value += s.w1 * plane[s.pos1] + s.w2 * plane[s.pos2] + s.w3 * plane[s.pos3] + s.w4 * plane[s.pos4];
        }
        dst[bin] = value / count;
      }
    }
  }
  return output.to(features.device(), features.scalar_type());
}

}  // namespace posebatch::native
