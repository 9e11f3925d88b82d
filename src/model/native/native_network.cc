#include "model/native/native_network.h"

#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

class NativeNetwork : public Network {
 public:
  NativeNetwork(std::unique_ptr<Backbone> backbone, std::vector<std::pair<std::string, std::unique_ptr<Head>>> heads,
                std::string describe)
      : backbone_(std::move(backbone)), heads_(std::move(heads)), describe_(std::move(describe)) {}

  HeadOutputs Forward(const at::Tensor& batch) override {
    at::Tensor features = backbone_->Forward(batch);
    HeadOutputs out;
    for (const auto& [name, head] : heads_) out[name] = head->Forward(features);
    return out;
  }

  std::string Describe() const override { return describe_; }

 private:
  std::unique_ptr<Backbone> backbone_;
  std::vector<std::pair<std::string, std::unique_ptr<Head>>> heads_;
  std::string describe_;
};

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(Status::ModelError(origin + ": " + what));
}

}  // namespace

std::unique_ptr<Network> BuildNativeNetwork(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                                            const std::string& device) {
  RegisterAll();
  if (device != "cpu") Bad(origin, "native networks run on the CPU in this build (device '" + device + "')");
  const YAML::Node model = config["model"];
  if (!model || !model.IsMap()) Bad(origin, "config has no model block");
  const YAML::Node bb = model["backbone"];
  if (!bb || !bb["type"]) Bad(origin, "config has no model.backbone.type");
  const std::string bb_type = bb["type"].as<std::string>();
  if (model["neck"] && !model["neck"].IsNull()) Bad(origin, "models with a neck are not supported yet");
  auto bit = BackboneRegistry().find(bb_type);
  if (bit == BackboneRegistry().end()) {
    std::string known;
    for (const auto& kv : BackboneRegistry()) known += (known.empty() ? "" : ", ") + kv.first;
    Bad(origin, "backbone '" + bb_type + "' is not built natively yet (native: " + known +
                    "); export the model to TorchScript instead");
  }
  ParamSet params;
  std::unique_ptr<Backbone> backbone;
  try {
    backbone = bit->second(bb, params, "backbone.");
  } catch (const YAML::Exception& e) {
    Bad(origin, std::string("bad model.backbone config (") + e.what() + ")");
  }
  std::vector<std::pair<std::string, std::unique_ptr<Head>>> heads;
  const YAML::Node hs = model["heads"];
  if (!hs || !hs.IsMap()) Bad(origin, "config has no model.heads");
  for (const auto& kv : hs) {
    const std::string name = kv.first.as<std::string>();
    const std::string type = kv.second["type"] ? kv.second["type"].as<std::string>() : "";
    auto hit = HeadRegistry().find(type);
    if (hit == HeadRegistry().end()) Bad(origin, "head '" + name + "' of type '" + type + "' is not built natively yet");
    try {
      heads.emplace_back(name, hit->second(kv.second, backbone->out_channels(), params, "heads." + name + "."));
    } catch (const YAML::Exception& e) {
      Bad(origin, "bad config for head '" + name + "' (" + e.what() + ")");
    }
  }
  params.Load(state_dict, origin);
  backbone->Prepare();
  for (auto& h : heads) h.second->Prepare();
  const double mparams = params.NumParameters() / 1e6;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2fM parameters", mparams);
  std::string describe = "native " + backbone->Describe() + " + ";
  for (size_t i = 0; i < heads.size(); ++i) describe += (i ? ", " : "") + heads[i].first;
  describe += " head" + std::string(heads.size() > 1 ? "s" : "") + ", " + buf + ", from " + origin;
  return std::make_unique<NativeNetwork>(std::move(backbone), std::move(heads), describe);
}

}  // namespace posebatch::native
