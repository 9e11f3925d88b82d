// torchvision 0.14's Faster R-CNN at inference, natively: GeneralizedRCNNTransform (normalize,
// resize to min_size 800 / max_size 1333, batch to multiples of 32), FPN, anchors, RPN,
// MultiScaleRoIAlign, the box head and predictor, postprocessing, and DeepLabCut's detector
// postprocessing on top (boxes as x, y, w, h, at most max_detections per image).
// Weights load under DeepLabCut's state-dict names ("model." + torchvision's names).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/native/layers.h"
#include "posebatch/detector.h"

namespace posebatch::native {

// A detection backbone's body: the feature maps its FPN takes, highest resolution first
// (torchvision's IntermediateLayerGetter outputs). Immutable after loading.
class DetectionBody {
 public:
  virtual ~DetectionBody() = default;
  virtual std::vector<at::Tensor> Forward(const at::Tensor& x) const = 0;
  virtual std::vector<int64_t> out_channels() const = 0;
  virtual void Prepare() {}  // after weights are loaded
  virtual std::string Describe() const = 0;
};

// What differs between torchvision's Faster R-CNN builders.
struct FasterRcnnArch {
  std::vector<std::vector<double>> anchor_sizes;   // per FPN level (the max-pool level included)
  std::vector<std::vector<double>> aspect_ratios;  // per FPN level
  bool fpn_batch_norm = false;                     // FPN convolutions without bias + BatchNorm2d (the v2 models)
  int rpn_conv_depth = 1;                          // 3x3 convolutions of the RPN head
  int box_head_convs = 0;                          // 0: TwoMLPHead (fc6, fc7); else FastRCNNConvFCHead with BN convs
  int64_t min_size = 800, max_size = 1333;
  int64_t rpn_pre_nms_top_n = 1000, rpn_post_nms_top_n = 1000;
  double rpn_nms_thresh = 0.7, rpn_score_thresh = 0.0;
  double box_nms_thresh = 0.5;
  int64_t box_detections_per_img = 100;
  int64_t num_classes = 2;  // DeepLabCut's FastRCNNPredictor: background + animal
};

// The architecture of a torchvision variant name (fasterrcnn_mobilenet_v3_large_fpn,
// fasterrcnn_resnet50_fpn_v2); throws Error for others.
FasterRcnnArch FasterRcnnArchFor(const std::string& variant);

// Intermediate results of one forward pass (for tests and debugging).
struct FasterRcnnTrace {
  at::Tensor batched;                     // after transform: (B, 3, Hpad, Wpad)
  std::vector<at::Tensor> fpn;            // FPN outputs, pool level last
  std::vector<at::Tensor> proposals;      // per image, x1 y1 x2 y2 in resized-image pixels
  std::vector<at::Tensor> boxes, scores;  // per image, torchvision's outputs in input pixels
};

// Not thread-safe (Detector contract); the network itself is immutable after loading.
class FasterRcnn : public Detector {
 public:
  // Registers every tensor in `params` under "model.backbone.fpn.", "model.rpn.",
  // "model.roi_heads."; the body registers its own ("model.backbone.body."). Call Prepare()
  // after params.Load().
  FasterRcnn(DetectorSpec spec, FasterRcnnArch arch, std::unique_ptr<DetectionBody> body, ParamSet& params);
  ~FasterRcnn() override;
  void Prepare();

  std::vector<Detections> Detect(const at::Tensor& images) override;
  const DetectorSpec& spec() const override { return spec_; }
  std::string Describe() const override;

  // torchvision's model(images) in eval mode: per image, boxes x1 y1 x2 y2 (at most
  // box_detections_per_img) and scores. `trace` (optional) receives the intermediates.
  void Forward(const at::Tensor& images, std::vector<at::Tensor>& boxes, std::vector<at::Tensor>& scores,
               FasterRcnnTrace* trace = nullptr) const;

 private:
  struct Impl;
  DetectorSpec spec_;
  std::unique_ptr<Impl> impl_;
};

// DeepLabCut's Faster R-CNN for spec.variant, its detector state dict loaded strictly (every
// tensor used, every parameter filled, shapes checked), on `device`. Throws Error naming
// `origin`. Registered in DetectorRegistry() as FasterRCNN/<variant> by RegisterFasterRcnn().
std::unique_ptr<FasterRcnn> BuildFasterRcnn(const DetectorSpec& spec, StateDict state_dict, const std::string& origin,
                                            c10::Device device = c10::Device(c10::kCPU));

// The size torchvision resizes an (height, width) image to: (new_height, new_width).
std::pair<int64_t, int64_t> RcnnResizedSize(int64_t height, int64_t width, int64_t min_size, int64_t max_size);

}  // namespace posebatch::native
