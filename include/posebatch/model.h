// A pose model: what its config says (ModelSpec) and something that runs it (Network).
// Code: src/model/ (load_model.cc, config.cc; networks in src/model/native/).
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "posebatch/options.h"

namespace posebatch {

// DeepLabCut's HeatmapPredictor parameters for one head.
struct HeatmapHeadSpec {
  std::string name = "bodypart";    // key of the head in the model outputs
  int num_keypoints = 0;            // heatmap channels
  double stride = 8;                // input pixels per heatmap cell
  double locref_std = 7.2801;       // location-refinement scale
  bool location_refinement = true;  // use the locref output
  bool apply_sigmoid = false;       // sigmoid on heatmaps before the argmax
  bool clip_scores = true;          // clip scores to [0, 1]
};

// DeepLabCut's PartAffinityFieldPredictor (multi-animal bottom-up) for one head, with the
// settings of its Assembler.
struct PafPredictorSpec {
  std::string name = "bodypart";          // key of the head in the model outputs
  int num_keypoints = 0;                  // num_multibodyparts: heatmap channels
  int num_animals = 1;                    // at most this many animals per image
  double stride = 8;                      // input pixels per heatmap cell
  double locref_std = 7.2801;             // locref_stdev
  int nms_radius = 5;                     // Gaussian kernel 2r+1, max-pool window r
  double sigma = 1.0;                     // Gaussian smoothing of the heatmaps
  double min_affinity = 0.05;             // weaker links are dropped
  std::vector<std::array<int, 2>> graph;  // PAF edges: (source, target) bodypart
  std::vector<int> edges_to_keep;         // indices into graph used for assembly
  bool apply_sigmoid = true;              // sigmoid on heatmaps
  bool clip_scores = false;               // clip output scores to [0, 1]
  // Fixed by DeepLabCut (the PyTorch predictor leaves Assembler's defaults).
  double peak_threshold = 0.01;  // smoothed heatmap value a peak must reach
  double pcutoff = 0.1;          // candidates below this are not linked
  int min_n_links = 2;           // assemblies with fewer links (but some) are dropped
  double max_overlap = 0.8;      // pose suppression threshold
};

// DeepLabCut's DEKRPredictor (multi-animal bottom-up DEKR) for one head.
struct DekrPredictorSpec {
  std::string name = "bodypart";                 // key of the head in the model outputs
  int num_keypoints = 0;                         // offset pairs; heatmaps have one more (centre)
  int num_animals = 1;                           // centre peaks kept per image (rows of output)
  double stride = 4;                             // input pixels per heatmap cell
  bool apply_sigmoid = true;                     // sigmoid on heatmaps first
  bool clip_scores = false;                      // clip keypoint scores to [0, 1]
  bool use_heatmap = true;                       // snap keypoints to nearby heatmap peaks
  std::string keypoint_score_type = "combined";  // heatmap, center or combined (product)
  double max_absorb_distance = 75;               // use_heatmap: snap distance, in heatmap cells
  double nms_threshold = 0.05;                   // pose NMS: distance as a share of the pose's size
  bool apply_pose_nms = true;                    // suppress near-duplicate poses
  double detection_threshold = 0.01;             // read from the config; DeepLabCut never uses it
};

// DeepLabCut's identity head (model.heads.identity, a HeatmapHead with one map per
// individual, read by its IdentityPredictor) of multi-animal projects with identity: true.
struct IdentityHeadSpec {
  std::string name = "identity";  // key of the head in the model outputs
  int num_individuals = 0;        // heatmap channels
  double stride = 8;              // input pixels per heatmap cell
  bool apply_sigmoid = true;      // sigmoid on the resized maps
};

// DeepLabCut's SimCCPredictor (RTMPose heads of CTD models): coordinate classification.
struct SimCCPredictorSpec {
  double split_ratio = 2.0;        // simcc_split_ratio: bins per input pixel
  double sigma_x = 6.0;            // sigma (one number, or the first of two)
  double sigma_y = 6.0;            // sigma (the second of two)
  double decode_beta = 150.0;      // logits scale before the softmax
  bool apply_softmax = true;       // softmax per keypoint and axis
  bool normalize_outputs = false;  // not supported natively (refused when set)
};

// DeepLabCut's data.inference.top_down_crop block (defaults: 256x256, margin 0, context on for
// top-down, off for CTD).
struct TopDownCropSpec {
  int width = 256;           // crop width fed to the pose network
  int height = 256;          // crop height
  int margin = 0;            // pixels added on each side of the box before cropping
  bool with_context = true;  // widen the box to the crop's aspect ratio (false: zero-pad it)
};

// pytorch_config's `method`.
enum class Method {
  kBottomUp,            // "bu": the pose network sees whole frames
  kTopDown,             // "td": a detector's boxes, then the pose network on crops
  kConditionalTopDown,  // "ctd": condition poses, then the conditional pose network on crops
};

// model.heads.bodypart.predictor.type.
enum class PredictorType {
  kHeatmap,            // HeatmapPredictor (single animal, top-down, CTD HRNet variants)
  kPartAffinityField,  // PartAffinityFieldPredictor (multi-animal, with DeepLabCut's Assembler)
  kDekr,               // DEKRPredictor (multi-animal DEKR)
  kSimCC,              // SimCCPredictor (CTD RTMPose)
};

// The names the config uses: "bu", "td", "ctd"; "HeatmapPredictor", ...
const char* MethodName(Method method);
const char* PredictorName(PredictorType predictor);

// How frames become network input (DeepLabCut's data.inference block).
struct InputSpec {
  bool normalize = true;                              // (x/255 - mean) / std
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // per RGB channel
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};   // per RGB channel
  bool bgr = false;                                   // data.colormode == BGR
  // Normalize as albumentations' A.Normalize does, (v - 255 mean) * (1 / (255 std)) in float32,
  // which DeepLabCut's detectors see; it differs from the formula above by an ulp here and there,
  // which a detector can amplify to 1e-3 px of box.
  bool albumentations = false;
  int pad_multiple = 0;  // auto_padding: pad bottom/right to a multiple of this; 0 = off
};

// What a pytorch_config.yaml says, independent of how weights are stored.
struct ModelSpec {
  Method method = Method::kBottomUp;          // pytorch_config's method
  std::string net_type;                       // e.g. resnet_50
  std::vector<std::string> bodyparts;         // metadata.bodyparts
  std::vector<std::string> unique_bodyparts;  // metadata.unique_bodyparts
  std::vector<std::string> individuals;       // metadata.individuals
  bool with_identity = false;                 // metadata.with_identity
  InputSpec input;                            // preprocessing
  // model.heads.bodypart.predictor.type: kHeatmap (pose_head is filled) or kPartAffinityField
  // (paf is filled; pose_head keeps the head's name, keypoints, stride and locref scale) or kDekr
  // (dekr is filled; pose_head keeps the head's name, keypoints and stride) or kSimCC (CTD;
  // simcc is filled).
  PredictorType predictor = PredictorType::kHeatmap;
  HeatmapHeadSpec pose_head;     // the bodypart head's predictor
  HeatmapHeadSpec unique_head;   // the unique_bodypart head (when unique_bodyparts is set)
  PafPredictorSpec paf;          // multi-animal PAF predictor
  DekrPredictorSpec dekr;        // multi-animal DEKR predictor
  IdentityHeadSpec identity;     // filled when with_identity
  SimCCPredictorSpec simcc;      // filled when predictor is kSimCC
  TopDownCropSpec crop;          // top-down and CTD: data.inference.top_down_crop
  double bbox_margin = 20;       // CTD: data.bbox_margin around condition boxes
  std::string config_path;       // where the spec was read from
  std::string torchscript_file;  // posebatch.torchscript, relative to the config
  std::string config_text;       // the whole config as YAML (architecture details)
};

// True when DeepLabCut writes this model's outputs with an individuals level: multi-animal
// predictors, unique bodyparts, top-down and CTD models.
bool IsMultiAnimal(const ModelSpec& spec);

// Parses a DeepLabCut pytorch_config (YAML). Throws Error naming the file and the field.
ModelSpec ParseModelConfig(const std::string& yaml_text, const std::string& origin);
ModelSpec LoadModelConfig(const std::string& yaml_path);

// Memory order of a network input batch. Both are (B, 3, H, W) tensors to LibTorch; NHWC is
// its channels-last layout, which oneDNN convolutions run without reordering activations.
enum class InputLayout { kNCHW, kNHWC };

// Head outputs by head name, then output name: outputs["bodypart"]["heatmap"].
using HeadOutputs = std::map<std::string, std::map<std::string, at::Tensor>>;

// Runs a batch through the network. Not thread-safe: one inference thread owns it.
class Network {
 public:
  virtual ~Network() = default;
  // batch: float32 (B, 3, H, W), normalized, in input_layout(). Returns head outputs on the
  // CPU, contiguous.
  virtual HeadOutputs Forward(const at::Tensor& batch) = 0;
  // The layout in which the pipeline should write input rows (the fastest for this network).
  virtual InputLayout input_layout() const { return InputLayout::kNCHW; }
  // One line for `posebatch info` and logs.
  virtual std::string Describe() const = 0;
  // What the network really computes in: "float32", "float16" (--half), "bf16" or "int8" (after
  // any fallback: not necessarily what was asked for).
  virtual std::string precision() const { return "float32"; }
  // Forgets what the network measured on its first real input (--precision int8: the activation
  // ranges), so that the next real input measures again: the Analyzer calls it before each
  // input, so that a video's rows depend on that video alone, not on the inputs before it.
  // Not thread-safe: call while no Forward runs.
  virtual void ResetCalibration() {}
  // False while a network that measures its first real input has not yet done so.
  virtual bool calibrated() const { return true; }
};

// While one lives on this thread, the inputs given to Network::Forward are synthetic: timing
// runs (--batch-size auto, benchmark warm-ups). A network that measures its first real input
// (--precision int8 fixes its activation ranges on it) runs these as it would before measuring:
// in float32. Not copyable; nests.
class ScopedSyntheticInput {
 public:
  ScopedSyntheticInput();
  ~ScopedSyntheticInput();
  ScopedSyntheticInput(const ScopedSyntheticInput&) = delete;
  ScopedSyntheticInput& operator=(const ScopedSyntheticInput&) = delete;
  static bool Active();

 private:
  bool previous_;
};

class Detector;

struct Model {
  ModelSpec spec;
  std::unique_ptr<Network> network;
  // Top-down models: the export's detector, or a training folder's detector snapshot.
  std::unique_ptr<Detector> detector;

  // Out of line: Detector is complete only where models are loaded.
  Model();
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  std::string path;          // the model file or folder the user named
  std::string weights_path;  // the file the weights came from
  // Top-down: the detector's own file (a training folder's snapshot-detector-*.pt); empty when
  // the detector is inside weights_path (an export) or there is none.
  std::string detector_path;
  // Top-down without a detector: where one was looked for, for the error that asks for boxes.
  std::string detector_search;
};

// Loads what a DeepLabCut user has: an exported .pt (config + weights), a snapshot .pt with its
// pytorch_config.yaml, a training folder (best snapshot, else last), or a TorchScript file or
// folder with its config. Throws Error naming the file and the problem.
Model LoadModel(const std::string& path, const ModelLoadOptions& options);

// DeepLabCut-style scorer for outputs, e.g. DLC_Resnet50_<model name>.
std::string DefaultScorer(const Model& model);

}  // namespace posebatch
