#include "model/native/detection_ops.h"

#include <algorithm>
#include <cmath>
#include <string>

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
void PrecomputeSamples(int64_t height, int64_t width, int64_t pooled_h, int64_t pooled_w, float start_h,
                       float start_w, float bin_h, float bin_w, int64_t grid_h, int64_t grid_w,
                       std::vector<Sample>& out) {
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

at::Tensor EmptyIndices(const at::Tensor& like) { return at::empty({0}, like.options().dtype(at::kLong)); }

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

at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  if (boxes.numel() == 0) return EmptyIndices(boxes);
  const at::Tensor b = boxes.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor order_t = std::get<1>(scores.to(at::kCPU, at::kFloat).sort(/*stable=*/true, 0, /*descending=*/true));
  const int64_t n = b.size(0);
  const float* d = b.data_ptr<float>();
  const int64_t* order = order_t.data_ptr<int64_t>();
  std::vector<float> area(n);
  for (int64_t i = 0; i < n; ++i) area[i] = (d[i * 4 + 2] - d[i * 4]) * (d[i * 4 + 3] - d[i * 4 + 1]);
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const float ix1 = d[i * 4], iy1 = d[i * 4 + 1], ix2 = d[i * 4 + 2], iy2 = d[i * 4 + 3];
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = order[oj];
      if (suppressed[j]) continue;
      const float w = std::max(0.f, std::min(ix2, d[j * 4 + 2]) - std::max(ix1, d[j * 4]));
      const float h = std::max(0.f, std::min(iy2, d[j * 4 + 3]) - std::max(iy1, d[j * 4 + 1]));
      const float inter = w * h;
      const float iou = inter / (area[i] + area[j] - inter);
      if (iou > iou_threshold) suppressed[j] = 1;
    }
  }
  return at::tensor(keep, at::kLong).to(boxes.device());
}

at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold) {
  if (boxes.numel() > 4000) {  // torchvision's CPU threshold for one NMS per class
    at::Tensor keep_mask = at::zeros_like(scores, at::kBool);
    const at::Tensor classes = std::get<0>(at::_unique(idxs, /*sorted=*/true));
    for (int64_t k = 0; k < classes.size(0); ++k) {
      const at::Tensor members = at::where(idxs == classes[k])[0];
      const at::Tensor kept = Nms(boxes.index_select(0, members), scores.index_select(0, members), iou_threshold);
      keep_mask.index_put_({members.index_select(0, kept)}, true);
    }
    const at::Tensor keep = at::where(keep_mask)[0];
    return keep.index_select(0, std::get<1>(scores.index_select(0, keep).sort(0, /*descending=*/true)));
  }
  if (boxes.numel() == 0) return EmptyIndices(boxes);
  const at::Tensor max_coordinate = boxes.max();
  const at::Tensor offsets = idxs.to(boxes.scalar_type()) * (max_coordinate + at::scalar_tensor(1, boxes.options()));
  return Nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
}

at::Tensor ClipBoxesToImage(const at::Tensor& boxes, int64_t height, int64_t width) {
  at::Tensor out = boxes.clone();
  for (int64_t col : {0, 2}) out.select(1, col).clamp_(0, width);
  for (int64_t col : {1, 3}) out.select(1, col).clamp_(0, height);
  return out;
}

at::Tensor RemoveSmallBoxes(const at::Tensor& boxes, double min_size) {
  const at::Tensor ws = boxes.select(1, 2) - boxes.select(1, 0);
  const at::Tensor hs = boxes.select(1, 3) - boxes.select(1, 1);
  return at::where(at::logical_and(ws >= min_size, hs >= min_size))[0];
}

at::Tensor DecodeBoxes(const at::Tensor& deltas, const at::Tensor& reference, const std::array<double, 4>& weights) {
  // Operation for operation as BoxCoder.decode_single, so that every float32 rounding matches.
  const at::Tensor ref = reference.to(deltas.scalar_type());
  const at::Tensor widths = ref.select(1, 2) - ref.select(1, 0);
  const at::Tensor heights = ref.select(1, 3) - ref.select(1, 1);
  const at::Tensor ctr_x = ref.select(1, 0) + 0.5 * widths;
  const at::Tensor ctr_y = ref.select(1, 1) + 0.5 * heights;
  const int64_t cols = deltas.size(1);
  const at::Tensor dx = deltas.slice(1, 0, cols, 4) / weights[0];
  const at::Tensor dy = deltas.slice(1, 1, cols, 4) / weights[1];
  const double clip = std::log(1000.0 / 16);  // torchvision's bbox_xform_clip
  const at::Tensor dw = at::clamp_max(deltas.slice(1, 2, cols, 4) / weights[2], clip);
  const at::Tensor dh = at::clamp_max(deltas.slice(1, 3, cols, 4) / weights[3], clip);
  const at::Tensor pred_ctr_x = dx * widths.unsqueeze(1) + ctr_x.unsqueeze(1);
  const at::Tensor pred_ctr_y = dy * heights.unsqueeze(1) + ctr_y.unsqueeze(1);
  const at::Tensor pred_w = at::exp(dw) * widths.unsqueeze(1);
  const at::Tensor pred_h = at::exp(dh) * heights.unsqueeze(1);
  const at::Tensor half = at::scalar_tensor(0.5, pred_ctr_x.options());
  const at::Tensor c_to_c_h = half * pred_h, c_to_c_w = half * pred_w;
  return at::stack({pred_ctr_x - c_to_c_w, pred_ctr_y - c_to_c_h, pred_ctr_x + c_to_c_w, pred_ctr_y + c_to_c_h}, 2)
      .flatten(1);
}

}  // namespace posebatch::native
