// SSDLite320-MobileNetV3-Large as DeepLabCut 3.0.1 builds it (detectors/ssd.py: torchvision's
// ssdlite320_mobilenet_v3_large with num_classes=2, no ImageNet backbone weights) and as
// torchvision 0.14 runs it in eval mode:
//  - GeneralizedRCNNTransform: (x - 0.5) / 0.5 on top of DeepLabCut's own ImageNet
//    normalization, then a bilinear resize (align_corners=False) of every image to 320x320;
//  - MobileNetV3-Large with a reduced tail (torchvision halves C4/C5 without ImageNet weights),
//    tapped after layer 13's expansion (672 x 20x20) and at the end (480 x 10x10), then four
//    extra blocks (512, 256, 256, 128 channels; 5x5, 3x3, 2x2, 1x1); BatchNorm2d eps 0.001;
//  - SSDLite heads per feature map: depthwise 3x3 + BN + ReLU6, then a 1x1 conv, 6 anchors;
//  - DefaultBoxGenerator([[2, 3]] * 6, min_ratio 0.2, max_ratio 0.95), BoxCoder(10, 10, 5, 5),
//    boxes clipped to 320x320, softmax scores, score_thresh 0.001, top 300, NMS 0.55, at most
//    300, boxes resized back to the input image.
// torchvision's ssdlite builder swallows DeepLabCut's box_score_thresh (it lands in **kwargs
// that nothing reads), so the threshold really applied is 0.001. DeepLabCut's detector
// postprocessor then keeps the first max_individuals boxes and converts them to x, y, w, h.
#include <cmath>

#include "model/native/box_ops.h"
#include "model/native/detectors.h"
#include "model/native/mobilenet_v3.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

constexpr int64_t kSize = 320;          // torchvision's fixed input size
constexpr int64_t kNumClasses = 2;      // background + animal
constexpr int64_t kAnchorsPerCell = 6;  // 2 + 2 * len([2, 3])
constexpr int kNumMaps = 6;
constexpr double kTorchvisionScoreThresh = 0.001;
constexpr double kNmsThresh = 0.55;
constexpr int64_t kTopkCandidates = 300;
constexpr int64_t kDetectionsPerImage = 300;
constexpr double kNormEps = 0.001;

using Act = ConvNormAct::Act;

// torchvision's _extra_block: 1x1 to out/2, depthwise 3x3 stride 2, 1x1 to out; ReLU6 each.
struct ExtraBlock {
  ConvNormAct reduce, depthwise, expand;
  ExtraBlock() = default;
  ExtraBlock(ParamSet& p, const std::string& prefix, int64_t in, int64_t out) {
    const int64_t mid = out / 2;
    reduce = ConvNormAct(p, prefix + "0.", in, mid, 1, 1, 1, 1, Act::kReLU6, Norm2d::Kind::kBatch, kNormEps);
    depthwise = ConvNormAct(p, prefix + "1.", mid, mid, 3, 2, mid, 1, Act::kReLU6, Norm2d::Kind::kBatch, kNormEps);
    expand = ConvNormAct(p, prefix + "2.", mid, out, 1, 1, 1, 1, Act::kReLU6, Norm2d::Kind::kBatch, kNormEps);
  }
  at::Tensor operator()(const at::Tensor& x) const { return expand(depthwise(reduce(x))); }
};

// torchvision's _prediction_block: depthwise 3x3 + BN + ReLU6, then a 1x1 conv with bias.
struct PredictionBlock {
  ConvNormAct depthwise;
  Conv2d project;
  PredictionBlock() = default;
  PredictionBlock(ParamSet& p, const std::string& prefix, int64_t in, int64_t out) {
    depthwise = ConvNormAct(p, prefix + "0.", in, in, 3, 1, in, 1, Act::kReLU6, Norm2d::Kind::kBatch, kNormEps);
    project = Conv2d(p, prefix + "1.", in, out, 1, 1, 0, 1, /*bias=*/true);
  }
  at::Tensor operator()(const at::Tensor& x) const { return project(depthwise(x)); }
};

// SSDScoringHead: every map's (N, A*K, H, W) as (N, H*W*A, K), concatenated over the maps.
at::Tensor ScoringHead(const std::vector<PredictionBlock>& blocks, const std::vector<at::Tensor>& features,
                       int64_t columns) {
  std::vector<at::Tensor> all;
  for (size_t i = 0; i < features.size(); ++i) {
    at::Tensor r = blocks[i](features[i]);
    const int64_t n = r.size(0), h = r.size(2), w = r.size(3);
    all.push_back(r.view({n, -1, columns, h, w}).permute({0, 3, 4, 1, 2}).reshape({n, -1, columns}));
  }
  return at::cat(all, 1);
}

// DefaultBoxGenerator([[2, 3]] * 6, min_ratio=0.2, max_ratio=0.95) on a 320x320 image, as
// x1, y1, x2, y2 pixels, with torchvision's float32 arithmetic (same ATen ops, same order).
at::Tensor DefaultBoxes(const std::vector<std::pair<int64_t, int64_t>>& grids) {
  const double min_ratio = 0.2, max_ratio = 0.95;
  std::vector<double> scales;
  for (int k = 0; k < kNumMaps; ++k) scales.push_back(min_ratio + (max_ratio - min_ratio) * k / (kNumMaps - 1.0));
  scales.push_back(1.0);
  std::vector<at::Tensor> per_map;
  for (int k = 0; k < kNumMaps; ++k) {
    const double s = scales[k], s_prime = std::sqrt(scales[k] * scales[k + 1]);
    std::vector<double> wh = {s, s, s_prime, s_prime};
    for (double ar : {2.0, 3.0}) {
      const double w = s * std::sqrt(ar), h = s / std::sqrt(ar);
      wh.insert(wh.end(), {w, h, h, w});
    }
    const at::Tensor wh_pairs = at::tensor(wh, at::kDouble).to(at::kFloat).view({-1, 2}).clamp(0, 1);
    const auto [fh, fw] = grids[k];
    const at::Tensor shifts_x = ((at::arange(0, fw, at::kLong) + 0.5) / fw).to(at::kFloat);
    const at::Tensor shifts_y = ((at::arange(0, fh, at::kLong) + 0.5) / fh).to(at::kFloat);
    const auto mesh = at::meshgrid({shifts_y, shifts_x}, "ij");
    const at::Tensor sx = mesh[1].reshape(-1), sy = mesh[0].reshape(-1);
    std::vector<at::Tensor> xy;
    for (int64_t a = 0; a < wh_pairs.size(0); ++a) xy.insert(xy.end(), {sx, sy});
    const at::Tensor shifts = at::stack(xy, -1).reshape({-1, 2});
    per_map.push_back(at::cat({shifts, wh_pairs.repeat({fh * fw, 1})}, 1));
  }
  const at::Tensor boxes = at::cat(per_map, 0);
  const at::Tensor xy_size = at::tensor(std::vector<int64_t>{kSize, kSize}, at::kLong);
  const at::Tensor c = boxes.slice(1, 0, 2), wh = boxes.slice(1, 2, 4);
  return at::cat({(c - 0.5 * wh) * xy_size, (c + 0.5 * wh) * xy_size}, -1);
}

class Ssdlite : public Detector {
 public:
  Ssdlite(DetectorSpec spec, const YAML::Node& config, StateDict sd, const std::string& origin, c10::Device device)
      : spec_(std::move(spec)), device_(device) {
    spec_.score_threshold = kTorchvisionScoreThresh;
    const YAML::Node model = config["detector"]["model"];
    // torchvision halves the tail when it gets no ImageNet backbone weights (DeepLabCut's
    // default; pretrained_from_imagenet gives it IMAGENET1K_V2).
    const bool imagenet = model["pretrained_from_imagenet"] && model["pretrained_from_imagenet"].as<bool>();
    MobileNetV3Options opt;
    opt.norm = Norm2d::Kind::kBatch;
    opt.eps = kNormEps;
    opt.reduced_tail = !imagenet;
    const std::string prefix = "model.";
    backbone_ = MobileNetV3Large(params_, SsdliteMobileNetV3Namer(prefix + "backbone."), opt);
    const int64_t depths[] = {512, 256, 256, 128};
    int64_t in = backbone_.out_channels(16);
    std::vector<int64_t> channels = {backbone_.expanded_channels(13), in};
    for (int i = 0; i < 4; ++i) {
      extras_.emplace_back(params_, prefix + "backbone.extra." + std::to_string(i) + ".", in, depths[i]);
      in = depths[i];
      channels.push_back(in);
    }
    for (int i = 0; i < kNumMaps; ++i) {
      const std::string idx = std::to_string(i) + ".";
      cls_.emplace_back(params_, prefix + "head.classification_head.module_list." + idx, channels[i],
                        kNumClasses * kAnchorsPerCell);
      reg_.emplace_back(params_, prefix + "head.regression_head.module_list." + idx, channels[i], 4 * kAnchorsPerCell);
    }
    params_.Load(sd, origin);
    if (!device_.is_cpu()) params_.To(device_, at::kFloat);
    // Feature map sizes for a 320x320 input: every stride-2 layer (3x3/5x5, "same" padding)
    // rounds up: 160, 80, 40, 20 (layer 13's expansion), 10, then the extras 5, 3, 2, 1.
    int64_t n = kSize;
    for (int i = 0; i < 4; ++i) n = (n + 1) / 2;
    for (int i = 0; i < kNumMaps; ++i) {
      grids_.emplace_back(n, n);
      n = (n + 1) / 2;
    }
    anchors_ = DefaultBoxes(grids_);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2fM parameters", params_.NumParameters() / 1e6);
    describe_ = "native SSDLite320-MobileNetV3-Large detector (" +
                std::string(opt.reduced_tail ? "reduced tail, " : "") + buf + ", up to " +
                std::to_string(spec_.max_detections) + " boxes per image), on " + device_.str() + ", from " + origin;
  }

  std::vector<Detections> Detect(const at::Tensor& images) override {
    if (images.dim() != 4 || images.size(1) != 3) {
      throw Error(Status::Internal("SSDLite: images must be (B, 3, H, W)"));
    }
    const int64_t batch = images.size(0), height = images.size(2), width = images.size(3);
    at::Tensor x = images.to(device_, at::kFloat);
    x = at::upsample_bilinear2d(x.sub(0.5).div(0.5), {kSize, kSize}, /*align_corners=*/false);
    std::vector<at::Tensor> features;
    at::Tensor y = backbone_.Expand(backbone_.Run(x, 0, 13), 13);
    features.push_back(y);
    y = backbone_.Run(backbone_.FinishExpanded(y, 13), 14, MobileNetV3Large::kNumLayers);
    features.push_back(y);
    for (const auto& e : extras_) {
      y = e(y);
      features.push_back(y);
    }
    for (int i = 0; i < kNumMaps; ++i) {
      if (features[i].size(2) != grids_[i].first || features[i].size(3) != grids_[i].second) {
        throw Error(Status::Internal("SSDLite: unexpected feature map size"));
      }
    }
    const at::Tensor regression = ScoringHead(reg_, features, 4).to(at::kCPU);
    const at::Tensor scores_all = at::softmax(ScoringHead(cls_, features, kNumClasses), -1).to(at::kCPU);
    std::vector<Detections> out;
    for (int64_t b = 0; b < batch; ++b) {
      at::Tensor boxes = ClipBoxesToImage(DecodeBoxes(regression[b], anchors_, {10.0, 10.0, 5.0, 5.0}), kSize, kSize);
      // One foreground class (label 1).
      at::Tensor score = scores_all[b].select(1, 1);
      const at::Tensor keep_idxs = at::nonzero(score > kTorchvisionScoreThresh).squeeze(1);
      score = score.index_select(0, keep_idxs);
      boxes = boxes.index_select(0, keep_idxs);
      const auto [top_scores, top_idxs] = score.topk(std::min<int64_t>(kTopkCandidates, score.size(0)));
      boxes = boxes.index_select(0, top_idxs);
      const at::Tensor labels = at::ones({top_scores.size(0)}, at::kLong);
      at::Tensor keep = BatchedNms(boxes, top_scores, labels, kNmsThresh);
      keep = keep.slice(0, 0, std::min<int64_t>(kDetectionsPerImage, spec_.max_detections));
      at::Tensor kept = ResizeBoxes(boxes.index_select(0, keep), kSize, kSize, height, width);
      // DeepLabCut's BboxToCoco: x1, y1, x2, y2 -> x, y, w, h.
      kept.slice(1, 2, 4).sub_(kept.slice(1, 0, 2));
      out.push_back(Detections{kept.contiguous(), top_scores.index_select(0, keep).contiguous()});
    }
    return out;
  }

  const DetectorSpec& spec() const override { return spec_; }
  std::string Describe() const override { return describe_; }

 private:
  DetectorSpec spec_;
  c10::Device device_;
  ParamSet params_;
  MobileNetV3Large backbone_;
  std::vector<ExtraBlock> extras_;
  std::vector<PredictionBlock> cls_, reg_;
  std::vector<std::pair<int64_t, int64_t>> grids_;
  at::Tensor anchors_;  // (num anchors, 4) on the CPU
  std::string describe_;
};

}  // namespace

void RegisterSsdlite() {
  DetectorRegistry()["SSDLite"] = [](DetectorSpec spec, const YAML::Node& config, StateDict sd,
                                     const std::string& origin, c10::Device device) {
    return std::unique_ptr<Detector>(new Ssdlite(std::move(spec), config, std::move(sd), origin, device));
  };
}

}  // namespace posebatch::native
