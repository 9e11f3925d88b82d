// Object detectors: the first stage of top-down analysis (one box per animal), as DeepLabCut
// runs torchvision's SSDLite and Faster R-CNN models.
// Code: src/model/native/ (ssdlite.cc, faster_rcnn.cc).
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "posebatch/model.h"

namespace posebatch {

// What a DeepLabCut config's `detector` block says (plus the pose config's max individuals).
struct DetectorSpec {
  std::string type;        // detector.model.type: SSDLite, FasterRCNN
  std::string variant;     // detector.model.variant (Faster R-CNN), e.g. fasterrcnn_mobilenet_v3_large_fpn
  int max_detections = 1;  // boxes kept per image: the number of individuals
  // Boxes scoring at most this are dropped before NMS: detector.model.box_score_thresh
  // (DeepLabCut's default 0.01) where torchvision uses it (Faster R-CNN); SSDLite's builder
  // swallows it, so there torchvision's own 0.001 applies.
  double score_threshold = 0.01;
  InputSpec input;  // DeepLabCut's normalization, before torchvision's own
};

// One image's boxes, best first.
struct Detections {
  at::Tensor boxes;   // float32 (n, 4): x, y, w, h in pixels of the image given to Detect
  at::Tensor scores;  // float32 (n,), descending
};

// Runs a detector on a batch. Not thread-safe: one inference thread owns it.
class Detector {
 public:
  virtual ~Detector() = default;
  // images: float32 (B, 3, H, W), normalized as DeepLabCut normalizes (spec().input), all the
  // same size. Applies torchvision's own resize and normalization, anchors, box decoding,
  // per-class NMS and the score threshold; returns one Detections per image, boxes mapped back
  // to the given image's pixels, at most spec().max_detections each.
  virtual std::vector<Detections> Detect(const at::Tensor& images) = 0;
  virtual const DetectorSpec& spec() const = 0;
  // One line for `posebatch info` and logs.
  virtual std::string Describe() const = 0;
};

}  // namespace posebatch
