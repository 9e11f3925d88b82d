// Faster R-CNN as torchvision 0.14 runs it in eval mode. Each step mirrors torchvision's tensor
// operations one for one (same ATen calls, same order), so that the float32 results — and
// therefore the discrete choices of top-k and NMS — are torchvision's.
#include "model/native/faster_rcnn.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "model/native/box_ops.h"
#include "model/native/detectors.h"
#include "model/native/exact_linear.h"
#include "model/native/mobilenet_v3.h"
#include "model/native/roi_align.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

// Conv2dNormActivation without norm (bias) or with BatchNorm2d (no bias), optional ReLU.
struct FpnConv {
  Conv2d conv;
  Norm2d norm;
  bool has_norm = false, relu = false;
  FpnConv() = default;
  FpnConv(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, bool batch_norm, bool act)
      : has_norm(batch_norm), relu(act) {
    conv = Conv2d(p, prefix + "0.", in, out, k, 1, (k - 1) / 2, 1, /*bias=*/!batch_norm);
    if (batch_norm) norm = Norm2d(p, prefix + "1.", out, Norm2d::Kind::kBatch);
  }
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor y = conv(x);
    if (has_norm) y = norm(y);
    if (relu) y = at::relu(y);
    return y;
  }
};

// nn.Linear with PyTorch's exact CPU sums, vectorized (see exact_linear.h).
struct Linear {
  std::shared_ptr<at::Tensor> weight, bias;
  at::Tensor packed;
  Linear() = default;
  Linear(ParamSet& p, const std::string& prefix, int64_t in, int64_t out) {
    weight = p.Add(prefix + "weight", {out, in});
    bias = p.Add(prefix + "bias", {out});
  }
  void Prepare() {
    if (weight->is_cpu() && weight->scalar_type() == at::kFloat) packed = PackLinearWeight(*weight);
  }
  at::Tensor operator()(const at::Tensor& x) const {
    if (packed.defined() && x.is_cpu() && x.scalar_type() == at::kFloat) return SequentialLinear(x, packed, *bias);
    return at::linear(x, *weight, *bias);
  }
};

// AnchorGenerator.generate_anchors for one level: (sizes x ratios, 4), rounded.
at::Tensor BaseAnchors(const std::vector<double>& sizes, const std::vector<double>& ratios) {
  const at::Tensor scales = at::tensor(sizes, at::kDouble).to(at::kFloat);
  const at::Tensor aspect = at::tensor(ratios, at::kDouble).to(at::kFloat);
  const at::Tensor h_ratios = at::sqrt(aspect);
  const at::Tensor w_ratios = at::reciprocal(h_ratios) * 1;  // Python's 1 / tensor
  const at::Tensor ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
  const at::Tensor hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
  return (at::stack({-ws, -hs, ws, hs}, 1) / 2).round();
}

// permute_and_flatten: (N, A*C, H, W) -> (N, H*W*A, C).
at::Tensor PermuteAndFlatten(const at::Tensor& layer, int64_t c) {
  const int64_t n = layer.size(0), h = layer.size(2), w = layer.size(3);
  return layer.view({n, -1, c, h, w}).permute({0, 3, 4, 1, 2}).reshape({n, -1, c});
}

// fasterrcnn_mobilenet_v3_large_fpn's body: MobileNetV3-Large features with FrozenBatchNorm2d
// (DeepLabCut asks torchvision for ImageNet backbone weights, which selects the frozen norm),
// returning layers 13 and 16 (_mobilenet_extractor's last two stages; both stride 32).
class MobileNetV3FpnBody : public DetectionBody {
 public:
  explicit MobileNetV3FpnBody(ParamSet& p) : net_(p, TorchvisionMobileNetV3Namer("model.backbone.body."), Options()) {}
  std::vector<at::Tensor> Forward(const at::Tensor& x) const override {
    at::Tensor c4 = net_.Run(x, 0, 14);
    at::Tensor c5 = net_.Run(c4, 14, MobileNetV3Large::kNumLayers);
    return {c4, c5};
  }
  std::vector<int64_t> out_channels() const override { return {net_.out_channels(13), net_.out_channels(16)}; }
  std::string Describe() const override { return "MobileNetV3-Large, frozen batch norm"; }

 private:
  static MobileNetV3Options Options() {
    MobileNetV3Options o;
    o.norm = Norm2d::Kind::kFrozenBatch;
    o.eps = 1e-5;  // FrozenBatchNorm2d's default: torchvision passes the class, not MobileNet's eps
    return o;
  }
  MobileNetV3Large net_;
};

// fasterrcnn_resnet50_fpn_v2's body: torchvision's ResNet-50 (eval BatchNorm2d: torchvision
// builds it with its default norm even when asked for ImageNet weights), returning layer1..4.
class ResNet50FpnBody : public DetectionBody {
 public:
  explicit ResNet50FpnBody(ParamSet& p) {
    const std::string m = "model.backbone.body.";
    conv1_ = Conv2d(p, m + "conv1.", 3, 64, 7, 2, 3);
    bn1_ = Norm2d(p, m + "bn1.", 64, Norm2d::Kind::kBatch);
    const int blocks[] = {3, 4, 6, 3};
    int64_t inplanes = 64;
    for (int stage = 0; stage < 4; ++stage) {
      const int64_t planes = int64_t{64} << stage, outplanes = planes * 4;
      std::vector<Bottleneck> layer;
      for (int b = 0; b < blocks[stage]; ++b) {
        const std::string bp = m + "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
        const int64_t stride = b == 0 && stage > 0 ? 2 : 1;
        Bottleneck blk;
        blk.conv1 = Conv2d(p, bp + "conv1.", inplanes, planes, 1);
        blk.bn1 = Norm2d(p, bp + "bn1.", planes, Norm2d::Kind::kBatch);
        blk.conv2 = Conv2d(p, bp + "conv2.", planes, planes, 3, stride, 1);
        blk.bn2 = Norm2d(p, bp + "bn2.", planes, Norm2d::Kind::kBatch);
        blk.conv3 = Conv2d(p, bp + "conv3.", planes, outplanes, 1);
        blk.bn3 = Norm2d(p, bp + "bn3.", outplanes, Norm2d::Kind::kBatch);
        if (b == 0) {
          blk.has_down = true;
          blk.down_conv = Conv2d(p, bp + "downsample.0.", inplanes, outplanes, 1, stride);
          blk.down_norm = Norm2d(p, bp + "downsample.1.", outplanes, Norm2d::Kind::kBatch);
        }
        layer.push_back(std::move(blk));
        inplanes = outplanes;
      }
      layers_.push_back(std::move(layer));
    }
  }
  std::vector<at::Tensor> Forward(const at::Tensor& x) const override {
    at::Tensor y = at::relu(bn1_(conv1_(x)));
    y = at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
    std::vector<at::Tensor> out;
    for (const auto& layer : layers_) {
      for (const auto& b : layer) y = b(y);
      out.push_back(y);
    }
    return out;
  }
  std::vector<int64_t> out_channels() const override { return {256, 512, 1024, 2048}; }
  std::string Describe() const override { return "ResNet-50, batch norm"; }

 private:
  // torchvision's Bottleneck (stride on the 3x3), out = relu(bn3(conv3(...)) + identity).
  struct Bottleneck {
    Conv2d conv1, conv2, conv3, down_conv;
    Norm2d bn1, bn2, bn3, down_norm;
    bool has_down = false;
    at::Tensor operator()(const at::Tensor& x) const {
      at::Tensor y = at::relu(bn1(conv1(x)));
      y = at::relu(bn2(conv2(y)));
      y = bn3(conv3(y));
      const at::Tensor identity = has_down ? down_norm(down_conv(x)) : x;
      return at::relu(y + identity);
    }
  };
  Conv2d conv1_;
  Norm2d bn1_;
  std::vector<std::vector<Bottleneck>> layers_;
};

}  // namespace

std::pair<int64_t, int64_t> RcnnResizedSize(int64_t height, int64_t width, int64_t min_size, int64_t max_size) {
  // _resize_image_and_masks: float32 tensors, `float / tensor` is reciprocal(tensor) * float.
  const at::Tensor shorter = at::scalar_tensor(static_cast<double>(std::min(height, width)), at::kFloat);
  const at::Tensor longer = at::scalar_tensor(static_cast<double>(std::max(height, width)), at::kFloat);
  const at::Tensor scale = at::min(at::reciprocal(shorter) * static_cast<double>(min_size),
                                   at::reciprocal(longer) * static_cast<double>(max_size));
  const double factor = scale.item<float>();
  // interpolate(scale_factor=..., recompute_scale_factor=True): floor(size * factor) in double.
  return {static_cast<int64_t>(std::floor(static_cast<double>(height) * factor)),
          static_cast<int64_t>(std::floor(static_cast<double>(width) * factor))};
}

FasterRcnnArch FasterRcnnArchFor(const std::string& variant) {
  FasterRcnnArch a;
  if (variant == "fasterrcnn_mobilenet_v3_large_fpn") {
    a.anchor_sizes.assign(3, {32, 64, 128, 256, 512});
    a.aspect_ratios.assign(3, {0.5, 1.0, 2.0});
  } else if (variant == "fasterrcnn_resnet50_fpn_v2") {
    a.anchor_sizes = {{32}, {64}, {128}, {256}, {512}};
    a.aspect_ratios.assign(5, {0.5, 1.0, 2.0});
    a.fpn_batch_norm = true;
    a.rpn_conv_depth = 2;
    a.box_head_convs = 4;
  } else {
    throw Error(
        Status::ModelError("Faster R-CNN variant '" + variant +
                           "' is not supported (fasterrcnn_mobilenet_v3_large_fpn, fasterrcnn_resnet50_fpn_v2)"));
  }
  return a;
}

struct FasterRcnn::Impl {
  FasterRcnnArch arch;
  std::unique_ptr<DetectionBody> body;
  std::vector<FpnConv> fpn_inner, fpn_layer;
  std::vector<FpnConv> rpn_convs;
  Conv2d rpn_cls, rpn_bbox;
  std::vector<FpnConv> head_convs;
  Linear fc6, fc7;  // fc6 only for the conv head (box_head.5)
  Linear cls_score, bbox_pred;
  std::vector<at::Tensor> base_anchors;  // per FPN level
  int64_t num_anchors = 0;

  // GeneralizedRCNNTransform: torchvision normalization, resize, zero padding to 32.
  at::Tensor Transform(const at::Tensor& images, int64_t& resized_h, int64_t& resized_w) const {
    const at::Tensor mean = at::tensor(std::vector<double>{0.485, 0.456, 0.406}, at::kDouble)
                                .to(images.device(), at::kFloat)
                                .view({1, 3, 1, 1});
    const at::Tensor std = at::tensor(std::vector<double>{0.229, 0.224, 0.225}, at::kDouble)
                               .to(images.device(), at::kFloat)
                               .view({1, 3, 1, 1});
    const at::Tensor normalized = (images - mean) / std;
    std::tie(resized_h, resized_w) = RcnnResizedSize(images.size(2), images.size(3), arch.min_size, arch.max_size);
    const at::Tensor resized = at::upsample_bilinear2d(normalized, {resized_h, resized_w}, /*align_corners=*/false,
                                                       c10::nullopt, c10::nullopt);
    const int64_t padded_h = static_cast<int64_t>(std::ceil(static_cast<double>(resized_h) / 32.0) * 32);
    const int64_t padded_w = static_cast<int64_t>(std::ceil(static_cast<double>(resized_w) / 32.0) * 32);
    at::Tensor batched = at::zeros({images.size(0), 3, padded_h, padded_w}, resized.options());
    batched.narrow(2, 0, resized_h).narrow(3, 0, resized_w).copy_(resized);
    return batched;
  }

  // BackboneWithFPN's FPN with LastLevelMaxPool: outputs highest resolution first, pool last.
  std::vector<at::Tensor> Fpn(const std::vector<at::Tensor>& x) const {
    const size_t n = x.size();
    std::vector<at::Tensor> results(n);
    at::Tensor last_inner = fpn_inner[n - 1](x[n - 1]);
    results[n - 1] = fpn_layer[n - 1](last_inner);
    for (size_t i = n - 1; i-- > 0;) {
      const at::Tensor lateral = fpn_inner[i](x[i]);
      const at::Tensor top_down =
          at::upsample_nearest2d(last_inner, {lateral.size(2), lateral.size(3)}, c10::nullopt, c10::nullopt);
      last_inner = lateral + top_down;
      results[i] = fpn_layer[i](last_inner);
    }
    results.push_back(at::max_pool2d(results.back(), {1, 1}, {2, 2}, {0, 0}));
    return results;
  }

  // AnchorGenerator.forward: anchors of all levels for one (padded) image size.
  at::Tensor Anchors(const std::vector<at::Tensor>& features, int64_t padded_h, int64_t padded_w) const {
    std::vector<at::Tensor> levels;
    for (size_t l = 0; l < features.size(); ++l) {
      const int64_t gh = features[l].size(2), gw = features[l].size(3);
      const int64_t sh = padded_h / gh, sw = padded_w / gw;
      const at::Tensor shifts_x = at::arange(0, gw, at::kInt) * sw;
      const at::Tensor shifts_y = at::arange(0, gh, at::kInt) * sh;
      const auto grid = at::meshgrid({shifts_y, shifts_x}, "ij");
      const at::Tensor sy = grid[0].reshape(-1), sx = grid[1].reshape(-1);
      const at::Tensor shifts = at::stack({sx, sy, sx, sy}, 1);
      levels.push_back((shifts.view({-1, 1, 4}) + base_anchors[l].view({1, -1, 4})).reshape({-1, 4}));
    }
    return at::cat(levels).to(features[0].device());
  }

  // RegionProposalNetwork.forward (eval): per image, proposals x1 y1 x2 y2.
  std::vector<at::Tensor> Rpn(const std::vector<at::Tensor>& features, int64_t padded_h, int64_t padded_w,
                              int64_t image_h, int64_t image_w) const {
    const int64_t n = features[0].size(0);
    std::vector<at::Tensor> logits, deltas;
    std::vector<int64_t> per_level;
    for (const auto& f : features) {
      at::Tensor t = f;
      for (const auto& c : rpn_convs) t = c(t);
      const at::Tensor cls = rpn_cls(t), reg = rpn_bbox(t);
      per_level.push_back(cls.size(1) * cls.size(2) * cls.size(3));
      logits.push_back(PermuteAndFlatten(cls, 1));
      deltas.push_back(PermuteAndFlatten(reg, 4));
    }
    const at::Tensor objectness_all = at::cat(logits, 1).flatten(0, -2);
    const at::Tensor regression = at::cat(deltas, 1).reshape({-1, 4});
    const at::Tensor anchors = Anchors(features, padded_h, padded_w);
    const at::Tensor proposals_all =
        DecodeBoxes(regression, anchors.repeat({n, 1}), {1.0, 1.0, 1.0, 1.0}).view({n, -1, 4});

    // filter_proposals: top-n per level, sigmoid, clip, small boxes, score, NMS per level.
    const at::Tensor objectness = objectness_all.reshape({n, -1});
    std::vector<at::Tensor> level_ids, top_idx;
    int64_t offset = 0;
    for (size_t l = 0; l < per_level.size(); ++l) {
      level_ids.push_back(at::full({per_level[l]}, static_cast<int64_t>(l), objectness.options().dtype(at::kLong)));
      const at::Tensor ob = objectness.narrow(1, offset, per_level[l]);
      const int64_t k = std::min(arch.rpn_pre_nms_top_n, per_level[l]);
      top_idx.push_back(std::get<1>(ob.topk(k, 1)) + offset);
      offset += per_level[l];
    }
    const at::Tensor top = at::cat(top_idx, 1);
    const at::Tensor levels_all = at::cat(level_ids, 0).reshape({1, -1}).expand_as(objectness);
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor idx = top[i];
      at::Tensor scores = at::sigmoid(objectness[i].index_select(0, idx));
      at::Tensor lvl = levels_all[i].index_select(0, idx);
      at::Tensor boxes = ClipBoxesToImage(proposals_all[i].index_select(0, idx), image_h, image_w);
      at::Tensor keep = RemoveSmallBoxes(boxes, 1e-3);
      boxes = boxes.index_select(0, keep), scores = scores.index_select(0, keep), lvl = lvl.index_select(0, keep);
      keep = at::where(scores >= arch.rpn_score_thresh)[0];
      boxes = boxes.index_select(0, keep), scores = scores.index_select(0, keep), lvl = lvl.index_select(0, keep);
      keep = BatchedNms(boxes, scores, lvl, arch.rpn_nms_thresh);
      keep = keep.narrow(0, 0, std::min(keep.size(0), arch.rpn_post_nms_top_n));
      out.push_back(boxes.index_select(0, keep));
    }
    return out;
  }

  // MultiScaleRoIAlign over the FPN levels "0".."3" (never the pool level), 7x7, sampling 2.
  at::Tensor RoIPool(const std::vector<at::Tensor>& fpn, const std::vector<at::Tensor>& proposals, int64_t image_h,
                     int64_t image_w) const {
    const size_t num_levels = std::min<size_t>(fpn.size() - 1, 4);
    std::vector<double> scales;
    for (size_t l = 0; l < num_levels; ++l) {  // _infer_scale, from the feature height
      const double approx = static_cast<double>(fpn[l].size(2)) / static_cast<double>(image_h);
      const float lg = at::scalar_tensor(approx, at::kFloat).log2().round().item<float>();
      scales.push_back(std::pow(2.0, static_cast<double>(lg)));
    }
    (void)image_w;
    std::vector<at::Tensor> ids;
    for (size_t i = 0; i < proposals.size(); ++i) {
      ids.push_back(at::full_like(proposals[i].narrow(1, 0, 1), static_cast<double>(i)));
    }
    const at::Tensor boxes = at::cat(proposals, 0);
    const at::Tensor rois = at::cat({at::cat(ids, 0), boxes}, 1);
    if (num_levels == 1) return RoIAlign(fpn[0], rois, scales[0], 7, 7, 2, false);
    const int64_t k_min = static_cast<int64_t>(-at::scalar_tensor(scales.front(), at::kFloat).log2().item<float>());
    const int64_t k_max = static_cast<int64_t>(-at::scalar_tensor(scales.back(), at::kFloat).log2().item<float>());
    // LevelMapper: floor(4 + log2(sqrt(area) / 224) + 1e-6), clamped to [k_min, k_max].
    const at::Tensor area = (boxes.select(1, 2) - boxes.select(1, 0)) * (boxes.select(1, 3) - boxes.select(1, 1));
    const at::Tensor s = at::sqrt(area);
    const at::Tensor target =
        at::floor(4 + at::log2(s / 224) + at::scalar_tensor(1e-6, s.options())).clamp(k_min, k_max);
    const at::Tensor levels = target.to(at::kLong) - k_min;
    at::Tensor result = at::zeros({rois.size(0), fpn[0].size(1), 7, 7}, fpn[0].options());
    for (size_t l = 0; l < num_levels; ++l) {
      const at::Tensor idx = at::where(levels == static_cast<int64_t>(l))[0];
      if (idx.numel() == 0) continue;
      result.index_copy_(0, idx, RoIAlign(fpn[l], rois.index_select(0, idx), scales[l], 7, 7, 2, false));
    }
    return result;
  }

  // RoIHeads: box head, predictor, postprocess_detections.
  void RoIHeads(const std::vector<at::Tensor>& fpn, const std::vector<at::Tensor>& proposals, int64_t image_h,
                int64_t image_w, std::vector<at::Tensor>& boxes_out, std::vector<at::Tensor>& scores_out) const {
    at::Tensor x = RoIPool(fpn, proposals, image_h, image_w);
    if (head_convs.empty()) {
      x = at::relu(fc6(x.flatten(1)));
      x = at::relu(fc7(x));
    } else {
      for (const auto& c : head_convs) x = c(x);
      x = at::relu(fc6(x.flatten(1)));
    }
    const at::Tensor class_logits = cls_score(x.flatten(1));
    const at::Tensor box_regression = bbox_pred(x.flatten(1));
    const int64_t num_classes = class_logits.size(-1);
    const at::Tensor all_proposals = at::cat(proposals, 0);
    const at::Tensor pred_boxes =
        DecodeBoxes(box_regression.reshape({all_proposals.size(0), -1}), all_proposals, {10.0, 10.0, 5.0, 5.0})
            .reshape({all_proposals.size(0), -1, 4});
    const at::Tensor pred_scores = at::softmax(class_logits, -1);
    int64_t start = 0;
    for (const auto& p : proposals) {
      const int64_t count = p.size(0);
      at::Tensor boxes = ClipBoxesToImage(pred_boxes.narrow(0, start, count).reshape({-1, 4}), image_h, image_w)
                             .reshape({count, num_classes, 4});
      at::Tensor scores = pred_scores.narrow(0, start, count);
      start += count;
      at::Tensor labels = at::arange(num_classes, boxes.options().dtype(at::kLong)).view({1, -1}).expand_as(scores);
      boxes = boxes.narrow(1, 1, num_classes - 1).reshape({-1, 4});  // drop the background class
      scores = scores.narrow(1, 1, num_classes - 1).reshape(-1);
      labels = labels.narrow(1, 1, num_classes - 1).reshape(-1);
      at::Tensor keep = at::where(scores > score_threshold)[0];
      boxes = boxes.index_select(0, keep), scores = scores.index_select(0, keep), labels = labels.index_select(0, keep);
      keep = RemoveSmallBoxes(boxes, 1e-2);
      boxes = boxes.index_select(0, keep), scores = scores.index_select(0, keep), labels = labels.index_select(0, keep);
      keep = BatchedNms(boxes, scores, labels, arch.box_nms_thresh);
      keep = keep.narrow(0, 0, std::min(keep.size(0), arch.box_detections_per_img));
      boxes_out.push_back(boxes.index_select(0, keep));
      scores_out.push_back(scores.index_select(0, keep));
    }
  }

  double score_threshold = 0.05;
};

FasterRcnn::FasterRcnn(DetectorSpec spec, FasterRcnnArch arch, std::unique_ptr<DetectionBody> body, ParamSet& p)
    : spec_(std::move(spec)), impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.arch = std::move(arch);
  m.body = std::move(body);
  m.score_threshold = spec_.score_threshold;
  const int64_t ch = 256;
  const std::vector<int64_t> in_channels = m.body->out_channels();
  for (size_t i = 0; i < in_channels.size(); ++i) {
    const std::string idx = std::to_string(i) + ".";
    m.fpn_inner.emplace_back(p, "model.backbone.fpn.inner_blocks." + idx, in_channels[i], ch, 1, m.arch.fpn_batch_norm,
                             false);
    m.fpn_layer.emplace_back(p, "model.backbone.fpn.layer_blocks." + idx, ch, ch, 3, m.arch.fpn_batch_norm, false);
  }
  if (m.arch.anchor_sizes.size() != in_channels.size() + 1) {
    throw Error(Status::Internal("Faster R-CNN: anchor levels do not match the FPN levels"));
  }
  for (size_t l = 0; l < m.arch.anchor_sizes.size(); ++l) {
    m.base_anchors.push_back(BaseAnchors(m.arch.anchor_sizes[l], m.arch.aspect_ratios[l]));
  }
  m.num_anchors = m.base_anchors[0].size(0);
  for (int i = 0; i < m.arch.rpn_conv_depth; ++i) {
    m.rpn_convs.emplace_back(p, "model.rpn.head.conv." + std::to_string(i) + ".", ch, ch, 3, false, true);
  }
  m.rpn_cls = Conv2d(p, "model.rpn.head.cls_logits.", ch, m.num_anchors, 1, 1, 0, 1, true);
  m.rpn_bbox = Conv2d(p, "model.rpn.head.bbox_pred.", ch, m.num_anchors * 4, 1, 1, 0, 1, true);
  const std::string rh = "model.roi_heads.";
  if (m.arch.box_head_convs == 0) {
    m.fc6 = Linear(p, rh + "box_head.fc6.", ch * 7 * 7, 1024);
    m.fc7 = Linear(p, rh + "box_head.fc7.", 1024, 1024);
  } else {
    for (int i = 0; i < m.arch.box_head_convs; ++i) {
      m.head_convs.emplace_back(p, rh + "box_head." + std::to_string(i) + ".", ch, ch, 3, true, true);
    }
    m.fc6 = Linear(p, rh + "box_head." + std::to_string(m.arch.box_head_convs + 1) + ".", ch * 7 * 7, 1024);
  }
  m.cls_score = Linear(p, rh + "box_predictor.cls_score.", 1024, m.arch.num_classes);
  m.bbox_pred = Linear(p, rh + "box_predictor.bbox_pred.", 1024, m.arch.num_classes * 4);
}

FasterRcnn::~FasterRcnn() = default;

void FasterRcnn::Prepare() {
  impl_->body->Prepare();
  for (Linear* l : {&impl_->fc6, &impl_->fc7, &impl_->cls_score, &impl_->bbox_pred}) {
    if (l->weight) l->Prepare();
  }
}

void FasterRcnn::Forward(const at::Tensor& images, std::vector<at::Tensor>& boxes, std::vector<at::Tensor>& scores,
                         FasterRcnnTrace* trace) const {
  const Impl& m = *impl_;
  if (images.dim() != 4 || images.size(1) != 3 || images.scalar_type() != at::kFloat) {
    throw Error(Status::InvalidArgument("Faster R-CNN: images must be float32 (B, 3, H, W)"));
  }
  const ScopedTorchConvolution torch_convolution;  // PyTorch's kernels: torchvision's exact sums
  int64_t image_h = 0, image_w = 0;
  const at::Tensor batched = m.Transform(images, image_h, image_w);
  const std::vector<at::Tensor> fpn = m.Fpn(m.body->Forward(batched));
  const std::vector<at::Tensor> proposals = m.Rpn(fpn, batched.size(2), batched.size(3), image_h, image_w);
  std::vector<at::Tensor> raw_boxes, raw_scores;
  m.RoIHeads(fpn, proposals, image_h, image_w, raw_boxes, raw_scores);
  // GeneralizedRCNNTransform.postprocess: back to the input size, float32 ratios.
  boxes.clear();
  scores = raw_scores;
  for (const auto& b : raw_boxes) boxes.push_back(ResizeBoxes(b, image_h, image_w, images.size(2), images.size(3)));
  if (trace) {
    trace->batched = batched;
    trace->fpn = fpn;
    trace->proposals = proposals;
    trace->boxes = boxes;
    trace->scores = scores;
  }
}

std::vector<Detections> FasterRcnn::Detect(const at::Tensor& images) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> boxes, scores;
  Forward(images.to(impl_->fc6.weight->device(), at::kFloat), boxes, scores);
  std::vector<Detections> out;
  for (size_t i = 0; i < boxes.size(); ++i) {
    // DeepLabCut: TrimOutputs to max_individuals, then BboxToCoco (x, y, w, h in float32).
    const int64_t n = std::min<int64_t>(boxes[i].size(0), spec_.max_detections);
    at::Tensor b = boxes[i].narrow(0, 0, n).to(at::kCPU).clone();
    b.select(1, 2).sub_(b.select(1, 0));
    b.select(1, 3).sub_(b.select(1, 1));
    out.push_back({b, scores[i].narrow(0, 0, n).to(at::kCPU).clone()});
  }
  return out;
}

std::string FasterRcnn::Describe() const {
  std::ostringstream o;
  o << "Faster R-CNN " << spec_.variant << " (" << impl_->body->Describe() << ", FPN, " << impl_->num_anchors
    << " anchors per cell; torchvision resize to " << impl_->arch.min_size << "/" << impl_->arch.max_size
    << "), at most " << spec_.max_detections << " boxes per image, score > " << spec_.score_threshold;
  return o.str();
}

std::unique_ptr<FasterRcnn> BuildFasterRcnn(const DetectorSpec& spec, StateDict state_dict, const std::string& origin,
                                            c10::Device device) {
  FasterRcnnArch arch = FasterRcnnArchFor(spec.variant);
  ParamSet params;
  std::unique_ptr<DetectionBody> body;
  if (spec.variant == "fasterrcnn_mobilenet_v3_large_fpn") body = std::make_unique<MobileNetV3FpnBody>(params);
  if (spec.variant == "fasterrcnn_resnet50_fpn_v2") body = std::make_unique<ResNet50FpnBody>(params);
  if (!body)
    throw Error(Status::ModelError(origin + ": Faster R-CNN variant '" + spec.variant + "' has no native body"));
  auto detector = std::make_unique<FasterRcnn>(spec, std::move(arch), std::move(body), params);
  params.Load(state_dict, origin + " (detector)");
  if (!device.is_cpu()) params.To(device, at::kFloat);
  detector->Prepare();
  return detector;
}

void RegisterFasterRcnn() {
  for (const char* variant : {"fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn_v2"}) {
    DetectorRegistry()[std::string("FasterRCNN/") + variant] = [](DetectorSpec spec, const YAML::Node&, StateDict sd,
                                                                  const std::string& origin, c10::Device device) {
      return std::unique_ptr<Detector>(BuildFasterRcnn(spec, std::move(sd), origin, device));
    };
  }
}

}  // namespace posebatch::native
