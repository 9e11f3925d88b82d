// DeepLabCut pytorch_config.yaml -> ModelSpec.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "model/config_internal.h"
#include "posebatch/model.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(Status::ModelError(origin + ": " + what));
}

std::vector<std::string> StringList(const YAML::Node& node, const std::string& origin, const std::string& field) {
  std::vector<std::string> out;
  if (!Present(node)) return out;
  if (!node.IsSequence()) Bad(origin, "field " + field + " must be a list of names");
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

template <typename T>
T ValueOr(const YAML::Node& node, T fallback) {
  return Present(node) ? node.as<T>() : fallback;
}

// Total stride of the backbone: ResNets honour output_stride (default 32), HRNets are 4, a
// CondPreNet that of the backbone inside it.
double BackboneStride(const YAML::Node& model, const YAML::Node& posebatch_block, const std::string& origin) {
  if (auto s = Child(posebatch_block, "backbone_stride"); Present(s)) return s.as<double>();
  YAML::Node backbone = Child(model, "backbone");
  if (!Present(backbone)) Bad(origin, "missing field model.backbone");
  std::string type = ValueOr<std::string>(Child(backbone, "type"), "");
  // CTD's CondPreNet keeps its inner backbone's resolution (its pre-nets are stride 1).
  for (int depth = 0; type == "CondPreNet" && depth < 4; ++depth) {
    backbone.reset(Child(backbone, "backbone"));  // rebinds (operator= would overwrite the config)
    type = ValueOr<std::string>(Child(backbone, "type"), "");
  }
  if (auto os = Child(backbone, "output_stride"); Present(os)) return os.as<double>();
  if (type == "ResNet") return 32;
  if (type == "HRNet") return 4;
  Bad(origin, "cannot tell the stride of backbone '" + type +
                  "': add model.backbone.output_stride (or posebatch.backbone_stride)");
}

double HeadUpsampling(const YAML::Node& head) {
  double up = 1;
  YAML::Node strides = Child(Child(head, "heatmap_config"), "strides");
  if (Present(strides) && strides.IsSequence()) {
    for (const auto& s : strides) up *= s.as<double>();
  }
  // DLCRNetHead's refinement stages start with a stride-2 transposed convolution.
  if (ValueOr<std::string>(Child(head, "type"), "") == "DLCRNetHead" &&
      ValueOr<int>(Child(head, "num_stages"), 5) > 0) {
    up *= 2;
  }
  return up;
}

// model.heads.bodypart.predictor of type PartAffinityFieldPredictor.
void ParsePafPredictor(const YAML::Node& predictor, const ModelSpec& spec, const std::string& origin,
                       PafPredictorSpec* paf) {
  const std::string where = "model.heads.bodypart.predictor";
  paf->name = spec.pose_head.name;
  paf->stride = spec.pose_head.stride;
  paf->num_keypoints = ValueOr<int>(predictor["num_multibodyparts"], static_cast<int>(spec.bodyparts.size()));
  if (paf->num_keypoints != static_cast<int>(spec.bodyparts.size())) {
    Bad(origin, where + ".num_multibodyparts is " + std::to_string(paf->num_keypoints) +
                    " but metadata.bodyparts has " + std::to_string(spec.bodyparts.size()));
  }
  paf->num_animals = ValueOr<int>(predictor["num_animals"], static_cast<int>(spec.individuals.size()));
  paf->locref_std = ValueOr<double>(predictor["locref_stdev"], 7.2801);
  paf->nms_radius = ValueOr<int>(predictor["nms_radius"], 5);
  paf->sigma = ValueOr<double>(predictor["sigma"], 1.0);
  paf->min_affinity = ValueOr<double>(predictor["min_affinity"], 0.05);
  paf->apply_sigmoid = ValueOr<bool>(predictor["apply_sigmoid"], true);
  paf->clip_scores = ValueOr<bool>(predictor["clip_scores"], false);
  const YAML::Node graph = predictor["graph"];
  if (!Present(graph) || !graph.IsSequence()) Bad(origin, "missing field " + where + ".graph");
  for (const auto& edge : graph) {
    if (!edge.IsSequence() || edge.size() != 2) Bad(origin, where + ".graph must hold pairs of bodypart indices");
    paf->graph.push_back({edge[0].as<int>(), edge[1].as<int>()});
  }
  const YAML::Node keep = predictor["edges_to_keep"];
  if (!Present(keep) || !keep.IsSequence()) Bad(origin, "missing field " + where + ".edges_to_keep");
  for (const auto& e : keep) paf->edges_to_keep.push_back(e.as<int>());
  for (const auto& e : paf->graph) {
    if (e[0] < 0 || e[1] < 0 || e[0] >= paf->num_keypoints || e[1] >= paf->num_keypoints || e[0] == e[1]) {
      Bad(origin, where + ".graph has edge (" + std::to_string(e[0]) + ", " + std::to_string(e[1]) +
                      "), which does not join two of the " + std::to_string(paf->num_keypoints) + " bodyparts");
    }
  }
  for (int e : paf->edges_to_keep) {
    if (e < 0 || e >= static_cast<int>(paf->graph.size())) {
      Bad(origin, where + ".edges_to_keep holds " + std::to_string(e) + ", not an index into graph");
    }
  }
  if (paf->num_animals < 1) Bad(origin, where + ".num_animals must be at least 1");
  if (paf->nms_radius < 1 || paf->nms_radius % 2 == 0) {
    Bad(origin, where + ".nms_radius must be odd (DeepLabCut's peak search fails on even radii)");
  }
  // Options of DeepLabCut's assembler that posebatch does not reproduce yet.
  for (const char* option : {"add_discarded", "force_fusion"}) {
    if (ValueOr<bool>(predictor[option], false)) Bad(origin, where + "." + option + " is not supported yet");
  }
}

// model.heads.identity (with_identity): DeepLabCut's HeatmapHead + IdentityPredictor.
void ParseIdentityHead(const YAML::Node& model, const YAML::Node& posebatch_block, const ModelSpec& spec,
                       const std::string& origin, IdentityHeadSpec* id) {
  const YAML::Node head = Child(Child(model, "heads"), "identity");
  if (!Present(head)) Bad(origin, "metadata.with_identity is true but there is no model.heads.identity");
  const YAML::Node predictor = Child(head, "predictor");
  const std::string type = ValueOr<std::string>(Child(predictor, "type"), "");
  if (type != "IdentityPredictor") {
    Bad(origin, "model.heads.identity.predictor is '" + type + "', not IdentityPredictor");
  }
  id->name = "identity";
  id->num_individuals = static_cast<int>(spec.individuals.size());
  id->apply_sigmoid = ValueOr<bool>(Child(predictor, "apply_sigmoid"), true);
  id->stride = BackboneStride(model, posebatch_block, origin) / HeadUpsampling(head);
  if (!(id->stride > 0)) Bad(origin, "identity head stride must be positive");
}

// A head read by DeepLabCut's HeatmapPredictor (its defaults where the config is silent).
void ParseHeatmapHead(const YAML::Node& head, const std::string& name, int num_keypoints, const YAML::Node& model,
                      const YAML::Node& posebatch_block, const std::string& origin, HeatmapHeadSpec* h) {
  YAML::Node predictor = head["predictor"];
  h->name = name;
  h->num_keypoints = num_keypoints;
  h->apply_sigmoid = ValueOr<bool>(predictor["apply_sigmoid"], true);  // DLC default
  h->clip_scores = ValueOr<bool>(predictor["clip_scores"], false);
  h->location_refinement = ValueOr<bool>(predictor["location_refinement"], true);
  h->locref_std = ValueOr<double>(predictor["locref_std"], 7.2801);
  if (auto s = Child(posebatch_block, "stride"); Present(s)) {
    h->stride = s.as<double>();
  } else {
    h->stride = BackboneStride(model, posebatch_block, origin) / HeadUpsampling(head);
  }
  if (!(h->stride > 0)) Bad(origin, "model.heads." + name + ": head stride must be positive");
}

// model.heads.bodypart.predictor of type DEKRPredictor (DeepLabCut's constructor defaults).
void ParseDekrPredictor(const YAML::Node& predictor, const ModelSpec& spec, const std::string& origin,
                        DekrPredictorSpec* dekr) {
  const std::string where = "model.heads.bodypart.predictor";
  dekr->name = spec.pose_head.name;
  dekr->stride = spec.pose_head.stride;
  dekr->num_keypoints = static_cast<int>(spec.bodyparts.size());
  dekr->num_animals = ValueOr<int>(predictor["num_animals"], static_cast<int>(spec.individuals.size()));
  dekr->detection_threshold = ValueOr<double>(predictor["detection_threshold"], 0.01);
  dekr->apply_sigmoid = ValueOr<bool>(predictor["apply_sigmoid"], true);
  dekr->clip_scores = ValueOr<bool>(predictor["clip_scores"], false);
  dekr->use_heatmap = ValueOr<bool>(predictor["use_heatmap"], true);
  dekr->keypoint_score_type = ValueOr<std::string>(predictor["keypoint_score_type"], "combined");
  dekr->max_absorb_distance = ValueOr<double>(predictor["max_absorb_distance"], 75);
  dekr->nms_threshold = ValueOr<double>(predictor["nms_threshold"], 0.05);
  dekr->apply_pose_nms = ValueOr<bool>(predictor["apply_pose_nms"], true);
  if (dekr->num_animals < 1) Bad(origin, where + ".num_animals must be at least 1");
  const std::string& type = dekr->keypoint_score_type;
  if (type != "heatmap" && type != "center" && type != "combined") {
    Bad(origin, where + ".keypoint_score_type is '" + type + "'; DeepLabCut knows heatmap, center and combined");
  }
  if (!spec.unique_bodyparts.empty()) Bad(origin, "metadata.unique_bodyparts with DEKR is not supported yet");
  if (spec.with_identity) Bad(origin, "metadata.with_identity (identity heads) is not supported yet");
}

}  // namespace

ModelSpec ParseModelConfig(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    Bad(origin, std::string("not valid YAML (") + e.what() + ")");
  }
  ModelSpec spec = ParseModelConfigNode(root, origin);
  spec.config_text = yaml_text;
  return spec;
}

TopDownCropSpec ParseTopDownCropSpec(const YAML::Node& config, const std::string& origin) {
  TopDownCropSpec spec;
  const std::string method = config["method"] ? config["method"].as<std::string>() : "bu";
  spec.with_context = method != "ctd";
  try {
    const YAML::Node data = config["data"];
    const YAML::Node inference = data && data.IsMap() ? data["inference"] : YAML::Node();
    const YAML::Node crop = inference && inference.IsMap() ? inference["top_down_crop"] : YAML::Node();
    if (crop && crop.IsMap()) {
      if (crop["width"]) spec.width = crop["width"].as<int>();
      if (crop["height"]) spec.height = crop["height"].as<int>();
      if (crop["margin"]) spec.margin = crop["margin"].as<int>();
      if (crop["crop_with_context"]) spec.with_context = crop["crop_with_context"].as<bool>();
    }
  } catch (const YAML::Exception& e) {
    throw Error(Status::ModelError(origin + ": bad data.inference.top_down_crop (" + e.what() + ")"));
  }
  if (spec.width <= 0 || spec.height <= 0 || spec.width > 8192 || spec.height > 8192) {
    throw Error(Status::ModelError(origin + ": data.inference.top_down_crop is " + std::to_string(spec.width) + "x" +
                                   std::to_string(spec.height) + "; expected a size in 1..8192"));
  }
  return spec;
}

SimCCPredictorSpec ParseSimCCPredictor(const YAML::Node& p, const std::string& origin) {
  SimCCPredictorSpec s;
  try {
    if (p["type"] && p["type"].as<std::string>() != "SimCCPredictor") {
      throw Error(
          Status::ModelError(origin + ": predictor type '" + p["type"].as<std::string>() + "' is not SimCCPredictor"));
    }
    if (p["simcc_split_ratio"]) s.split_ratio = p["simcc_split_ratio"].as<double>();
    if (p["sigma"]) {
      if (p["sigma"].IsSequence()) {
        const auto v = p["sigma"].as<std::vector<double>>();
        if (v.size() != 2) throw Error(Status::ModelError(origin + ": SimCCPredictor sigma must be 1 or 2 numbers"));
        s.sigma_x = v[0];
        s.sigma_y = v[1];
      } else {
        s.sigma_x = s.sigma_y = p["sigma"].as<double>();
      }
    }
    if (p["decode_beta"]) s.decode_beta = p["decode_beta"].as<double>();
    if (p["apply_softmax"]) s.apply_softmax = p["apply_softmax"].as<bool>();
    if (p["normalize_outputs"]) s.normalize_outputs = p["normalize_outputs"].as<bool>();
  } catch (const YAML::Exception& e) {
    throw Error(Status::ModelError(origin + ": bad SimCCPredictor config (" + e.what() + ")"));
  }
  if (s.normalize_outputs) {
    throw Error(Status::ModelError(origin + ": SimCCPredictor normalize_outputs is not supported natively"));
  }
  if (!(s.split_ratio > 0)) throw Error(Status::ModelError(origin + ": simcc_split_ratio must be positive"));
  return s;
}

ModelSpec ParseModelConfigNode(const YAML::Node& root, const std::string& origin) {
  if (!Present(root) || !root.IsMap()) Bad(origin, "not a DeepLabCut pytorch_config (top level is not a mapping)");
  ModelSpec spec;
  spec.config_path = origin;
  try {
    const std::string method = ValueOr<std::string>(root["method"], "bu");
    if (method == "bu") {
      spec.method = Method::kBottomUp;
    } else if (method == "td") {
      spec.method = Method::kTopDown;
    } else if (method == "ctd") {
      spec.method = Method::kConditionalTopDown;
    } else {
      Bad(origin, "method '" + method + "' is not supported (this build runs bottom-up, top-down and CTD models)");
    }
    if (spec.method != Method::kBottomUp) spec.crop = ParseTopDownCropSpec(root, origin);
    if (spec.method == Method::kConditionalTopDown) {
      spec.bbox_margin = ValueOr<double>(Child(root["data"], "bbox_margin"), 20.0);  // DeepLabCut's default
    }
    spec.net_type = ValueOr<std::string>(root["net_type"], "");
    YAML::Node metadata = root["metadata"];
    if (!Present(metadata)) Bad(origin, "missing field metadata");
    spec.bodyparts = StringList(metadata["bodyparts"], origin, "metadata.bodyparts");
    if (spec.bodyparts.empty()) Bad(origin, "missing field metadata.bodyparts");
    spec.unique_bodyparts = StringList(metadata["unique_bodyparts"], origin, "metadata.unique_bodyparts");
    spec.individuals = StringList(metadata["individuals"], origin, "metadata.individuals");
    if (spec.individuals.empty()) spec.individuals = {"animal"};
    spec.with_identity = ValueOr<bool>(metadata["with_identity"], false);

    YAML::Node data = root["data"];
    YAML::Node inference = Child(data, "inference");
    spec.input.normalize = ValueOr<bool>(Child(inference, "normalize_images"), true);
    spec.input.bgr = ValueOr<std::string>(Child(data, "colormode"), "RGB") == "BGR";
    if (YAML::Node pad = Child(inference, "auto_padding"); Present(pad)) {
      int w = ValueOr<int>(Child(pad, "pad_width_divisor"), 32);
      int h = ValueOr<int>(Child(pad, "pad_height_divisor"), 32);
      if (w != h || w <= 0) Bad(origin, "auto_padding with different width/height divisors is not supported");
      spec.input.pad_multiple = w;
    }
    for (const char* unsupported : {"resize", "longest_max_size"}) {
      if (Present(Child(inference, unsupported))) {
        Bad(origin, std::string("data.inference.") + unsupported + " is not supported yet");
      }
    }

    YAML::Node posebatch_block = root["posebatch"];
    spec.torchscript_file = ValueOr<std::string>(Child(posebatch_block, "torchscript"), "");

    YAML::Node model = root["model"];
    if (!Present(model)) Bad(origin, "missing field model");
    YAML::Node heads = model["heads"];
    if (!Present(heads) || !heads.IsMap()) Bad(origin, "missing field model.heads");
    YAML::Node head = heads["bodypart"];
    if (!Present(head)) Bad(origin, "missing field model.heads.bodypart");
    YAML::Node predictor = head["predictor"];
    if (!Present(predictor)) Bad(origin, "missing field model.heads.bodypart.predictor");
    std::string type = ValueOr<std::string>(predictor["type"], "");
    const bool simcc = type == "SimCCPredictor" && spec.method == Method::kConditionalTopDown;
    if (type != "HeatmapPredictor" && type != "PartAffinityFieldPredictor" && type != "DEKRPredictor" && !simcc) {
      Bad(origin, "predictor '" + type +
                      "' (model.heads.bodypart.predictor.type) is not supported yet (this build reads "
                      "HeatmapPredictor, PartAffinityFieldPredictor and DEKRPredictor; SimCCPredictor "
                      "in CTD models)");
    }
    spec.predictor = simcc                                  ? PredictorType::kSimCC
                     : type == "PartAffinityFieldPredictor" ? PredictorType::kPartAffinityField
                     : type == "DEKRPredictor"              ? PredictorType::kDekr
                                                            : PredictorType::kHeatmap;
    HeatmapHeadSpec& h = spec.pose_head;
    if (simcc) {  // CTD (RTMPose): coordinates are classified, there is no heatmap stride
      spec.simcc = ParseSimCCPredictor(predictor, origin);
      h.name = "bodypart";
      h.num_keypoints = static_cast<int>(spec.bodyparts.size());
      if (!spec.unique_bodyparts.empty())
        Bad(origin, "metadata.unique_bodyparts with a CTD model is not supported yet");
      if (spec.with_identity) Bad(origin, "metadata.with_identity with a CTD model is not supported yet");
      return spec;
    }
    ParseHeatmapHead(head, "bodypart", static_cast<int>(spec.bodyparts.size()), model, posebatch_block, origin, &h);
    if (!spec.unique_bodyparts.empty()) {
      YAML::Node unique = heads["unique_bodypart"];
      if (!Present(unique)) Bad(origin, "metadata.unique_bodyparts is set but model.heads.unique_bodypart is missing");
      std::string utype = ValueOr<std::string>(Child(unique["predictor"], "type"), "");
      if (utype != "HeatmapPredictor") {
        Bad(origin, "model.heads.unique_bodypart.predictor '" + utype + "' is not supported (HeatmapPredictor is)");
      }
      ParseHeatmapHead(unique, "unique_bodypart", static_cast<int>(spec.unique_bodyparts.size()), model,
                       posebatch_block, origin, &spec.unique_head);
    }
    if (spec.predictor == PredictorType::kPartAffinityField) {
      h.locref_std = ValueOr<double>(predictor["locref_stdev"], 7.2801);
      ParsePafPredictor(predictor, spec, origin, &spec.paf);
    }
    if (spec.predictor == PredictorType::kDekr) {
      h.location_refinement = false;  // DEKR regresses offsets instead
      ParseDekrPredictor(predictor, spec, origin, &spec.dekr);
    }
    if (spec.with_identity) {
      // DeepLabCut reads identity maps in its bottom-up postprocessor; posebatch does so for
      // PAF models (PredictIdentityScores / AssignIdentityOrder).
      if (spec.predictor != PredictorType::kPartAffinityField) {
        Bad(origin, "metadata.with_identity is supported with PartAffinityFieldPredictor models only");
      }
      ParseIdentityHead(model, posebatch_block, spec, origin, &spec.identity);
    }
  } catch (const YAML::Exception& e) {
    Bad(origin, std::string("unexpected value (") + e.what() + ")");
  }
  return spec;
}

bool IsMultiAnimal(const ModelSpec& spec) {
  return spec.method != Method::kBottomUp || spec.predictor != PredictorType::kHeatmap ||
         !spec.unique_bodyparts.empty();
}

const char* MethodName(Method method) {
  switch (method) {
    case Method::kBottomUp:
      return "bu";
    case Method::kTopDown:
      return "td";
    case Method::kConditionalTopDown:
      return "ctd";
  }
  return "?";
}

const char* PredictorName(PredictorType predictor) {
  switch (predictor) {
    case PredictorType::kHeatmap:
      return "HeatmapPredictor";
    case PredictorType::kPartAffinityField:
      return "PartAffinityFieldPredictor";
    case PredictorType::kDekr:
      return "DEKRPredictor";
    case PredictorType::kSimCC:
      return "SimCCPredictor";
  }
  return "?";
}

ModelSpec LoadModelConfig(const std::string& yaml_path) {
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) throw Error(Status::NotFound(yaml_path + ": cannot open model config"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), yaml_path);
}

}  // namespace posebatch

namespace posebatch {

YAML::Node PyToYaml(const PyObject& v) {
  using T = PyObject::Type;
  switch (v.type) {
    case T::kNone:
      return YAML::Node(YAML::NodeType::Null);
    case T::kBool:
      return YAML::Node(v.b);
    case T::kInt:
      return YAML::Node(v.i);
    case T::kFloat:
      return YAML::Node(v.f);
    case T::kStr:
    case T::kBytes:
      return YAML::Node(v.s);
    case T::kList:
    case T::kTuple: {
      YAML::Node n(YAML::NodeType::Sequence);
      for (const auto& e : v.items) n.push_back(PyToYaml(*e));
      return n;
    }
    case T::kDict: {
      YAML::Node n(YAML::NodeType::Map);
      for (const auto& [k, val] : v.dict) {
        n[k->is(T::kStr) ? k->s : std::to_string(k->i)] = PyToYaml(*val);
      }
      return n;
    }
    default:
      throw Error(Status::ModelError("config holds a " + v.TypeName() + ", which a config cannot hold"));
  }
}

}  // namespace posebatch
