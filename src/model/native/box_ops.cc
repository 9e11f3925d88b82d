#include "model/native/box_ops.h"

#include <vector>

#include "posebatch/status.h"

namespace posebatch::native {

at::Tensor Nms(const at::Tensor& boxes_in, const at::Tensor& scores_in, double iou_threshold) {
  if (boxes_in.dim() != 2 || boxes_in.size(1) != 4 || scores_in.dim() != 1 || scores_in.size(0) != boxes_in.size(0)) {
    throw Error(Status::Internal("Nms: boxes must be (N, 4) and scores (N)"));
  }
  const at::Tensor boxes = boxes_in.to(at::kCPU, at::kFloat), scores = scores_in.to(at::kCPU, at::kFloat);
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, at::kLong);
  const at::Tensor x1_t = boxes.select(1, 0).contiguous(), y1_t = boxes.select(1, 1).contiguous();
  const at::Tensor x2_t = boxes.select(1, 2).contiguous(), y2_t = boxes.select(1, 3).contiguous();
  const at::Tensor areas_t = (x2_t - x1_t) * (y2_t - y1_t);
  // torchvision 0.14's kernel sorts stably: equal scores keep their index order.
  const at::Tensor order_t = std::get<1>(scores.sort(/*stable=*/true, 0, /*descending=*/true)).contiguous();
  const float *x1 = x1_t.data_ptr<float>(), *y1 = y1_t.data_ptr<float>();
  const float *x2 = x2_t.data_ptr<float>(), *y2 = y2_t.data_ptr<float>();
  const float* areas = areas_t.data_ptr<float>();
  const int64_t* order = order_t.data_ptr<int64_t>();
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = order[a];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t b = a + 1; b < n; ++b) {
      const int64_t j = order[b];
      if (suppressed[j]) continue;
      const float w = std::max(0.0f, std::min(x2[i], x2[j]) - std::max(x1[i], x1[j]));
      const float h = std::max(0.0f, std::min(y2[i], y2[j]) - std::max(y1[i], y1[j]));
      const float inter = w * h;
      const float iou = inter / (areas[i] + areas[j] - inter);  // float, compared as double
      if (iou > iou_threshold) suppressed[j] = 1;
    }
  }
  return at::tensor(keep, at::kLong);
}

at::Tensor BatchedNms(const at::Tensor& boxes_in, const at::Tensor& scores_in, const at::Tensor& idxs_in,
                      double iou_threshold) {
  const at::Tensor boxes = boxes_in.to(at::kCPU, at::kFloat), scores = scores_in.to(at::kCPU, at::kFloat);
  const at::Tensor idxs = idxs_in.to(at::kCPU);
  if (boxes.numel() > 4000) {
    at::Tensor keep_mask = at::zeros_like(scores, at::kBool);
    const at::Tensor classes = std::get<0>(at::_unique(idxs, /*sorted=*/true));
    for (int64_t c = 0; c < classes.size(0); ++c) {
      const at::Tensor current = at::where(idxs == classes[c])[0];
      const at::Tensor kept = Nms(boxes.index_select(0, current), scores.index_select(0, current), iou_threshold);
      keep_mask.index_put_({current.index_select(0, kept)}, true);
    }
    const at::Tensor keep = at::where(keep_mask)[0];
    return keep.index_select(0, std::get<1>(scores.index_select(0, keep).sort(0, /*descending=*/true)));
  }
  if (boxes.numel() == 0) return at::empty({0}, at::kLong);
  const at::Tensor max_coordinate = boxes.max();
  const at::Tensor offsets = idxs.to(boxes.scalar_type()) * (max_coordinate + at::ones({}, boxes.options()));
  return Nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
}

at::Tensor ClipBoxesToImage(const at::Tensor& boxes, int64_t height, int64_t width) {
  const at::Tensor xs = boxes.slice(-1, 0, c10::nullopt, 2).clamp(0, width);
  const at::Tensor ys = boxes.slice(-1, 1, c10::nullopt, 2).clamp(0, height);
  return at::stack({xs, ys}, boxes.dim()).reshape(boxes.sizes());
}

at::Tensor RemoveSmallBoxes(const at::Tensor& boxes, double min_size) {
  const at::Tensor ws = boxes.select(1, 2) - boxes.select(1, 0);
  const at::Tensor hs = boxes.select(1, 3) - boxes.select(1, 1);
  return at::where(at::logical_and(ws >= min_size, hs >= min_size))[0];
}

at::Tensor DecodeBoxes(const at::Tensor& rel_codes, const at::Tensor& reference_in,
                       const std::array<double, 4>& weights, double bbox_xform_clip) {
  const at::Tensor reference = reference_in.to(rel_codes.scalar_type());
  const at::Tensor widths = reference.select(1, 2) - reference.select(1, 0);
  const at::Tensor heights = reference.select(1, 3) - reference.select(1, 1);
  const at::Tensor ctr_x = reference.select(1, 0) + 0.5 * widths;
  const at::Tensor ctr_y = reference.select(1, 1) + 0.5 * heights;
  const at::Tensor dx = rel_codes.slice(1, 0, c10::nullopt, 4) / weights[0];
  const at::Tensor dy = rel_codes.slice(1, 1, c10::nullopt, 4) / weights[1];
  const at::Tensor dw = at::clamp(rel_codes.slice(1, 2, c10::nullopt, 4) / weights[2], c10::nullopt, bbox_xform_clip);
  const at::Tensor dh = at::clamp(rel_codes.slice(1, 3, c10::nullopt, 4) / weights[3], c10::nullopt, bbox_xform_clip);
  const at::Tensor pred_ctr_x = dx * widths.unsqueeze(1) + ctr_x.unsqueeze(1);
  const at::Tensor pred_ctr_y = dy * heights.unsqueeze(1) + ctr_y.unsqueeze(1);
  const at::Tensor pred_w = at::exp(dw) * widths.unsqueeze(1);
  const at::Tensor pred_h = at::exp(dh) * heights.unsqueeze(1);
  const at::Tensor half = at::full({}, 0.5, pred_w.options());
  const at::Tensor c_to_c_h = half * pred_h, c_to_c_w = half * pred_w;
  return at::stack({pred_ctr_x - c_to_c_w, pred_ctr_y - c_to_c_h, pred_ctr_x + c_to_c_w, pred_ctr_y + c_to_c_h}, 2)
      .flatten(1);
}

at::Tensor ResizeBoxes(const at::Tensor& boxes, int64_t from_h, int64_t from_w, int64_t to_h, int64_t to_w) {
  const auto f32 = boxes.options().dtype(at::kFloat);
  const at::Tensor ratio_h =
      at::full({}, static_cast<double>(to_h), f32) / at::full({}, static_cast<double>(from_h), f32);
  const at::Tensor ratio_w =
      at::full({}, static_cast<double>(to_w), f32) / at::full({}, static_cast<double>(from_w), f32);
  return at::stack({boxes.select(1, 0) * ratio_w, boxes.select(1, 1) * ratio_h, boxes.select(1, 2) * ratio_w,
                    boxes.select(1, 3) * ratio_h},
                   1);
}

}  // namespace posebatch::native
