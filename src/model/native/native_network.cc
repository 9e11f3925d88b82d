#include "model/native/native_network.h"

#include "model/device.h"
#include "model/native/cond_prenet.h"
#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

class NativeNetwork : public Network {
 public:
  NativeNetwork(std::unique_ptr<Backbone> backbone, NamedHeads heads,
                std::string describe, c10::Device device, bool half, bool channels_last)
      : backbone_(std::move(backbone)),
        heads_(std::move(heads)),
        describe_(std::move(describe)),
        device_(device),
        half_(half),
        channels_last_(channels_last) {}

  HeadOutputs Forward(const at::Tensor& batch) override {
    at::Tensor x = batch;
    // From pinned slot memory the copy is asynchronous, queued before the forward's kernels.
    if (!device_.is_cpu()) x = x.to(device_, /*non_blocking=*/true);
    if (half_) x = x.to(at::kHalf);
    at::Tensor features = backbone_->Forward(x);
    HeadOutputs out;
    for (const auto& [name, head] : heads_) {
      auto& outputs = out[name] = head->Forward(features);
      for (auto& kv : outputs) {  // predictors read float32 NCHW on the CPU
        kv.second = kv.second.to(at::kCPU, at::kFloat).contiguous();
      }
    }
    return out;
  }

  // Channels-last rows when the weights are: the convolutions then never reorder.
  InputLayout input_layout() const override { return channels_last_ ? InputLayout::kNHWC : InputLayout::kNCHW; }

  std::string Describe() const override { return describe_; }

 private:
  std::unique_ptr<Backbone> backbone_;
  NamedHeads heads_;
  std::string describe_;
  c10::Device device_;
  bool half_;
  bool channels_last_;
};

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(Status::ModelError(origin + ": " + what));
}

}  // namespace

std::unique_ptr<Network> BuildNativeNetwork(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                                            const std::string& device_name, bool half, bool channels_last) {
  RegisterAll();
  const c10::Device device = ResolveDevice(device_name);
  if (half && device.is_cpu()) Bad(origin, "float16 (--half) needs a GPU (--device cuda)");
  const YAML::Node model = config["model"];
  if (!model || !model.IsMap()) Bad(origin, "config has no model block");
  const YAML::Node bb = model["backbone"];
  if (!bb || !bb["type"]) Bad(origin, "config has no model.backbone.type");
  const std::string bb_type = bb["type"].as<std::string>();
  // Conditional top-down: a network with a second input (the condition poses).
  if (bb_type == "CondPreNet") {
    return BuildCondPreNetNetwork(config, std::move(state_dict), origin, device_name, half, channels_last);
  }
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
  NamedHeads heads = BuildHeads(model, backbone->out_channels(), params, origin);
  params.Load(state_dict, origin, channels_last);
  if (!device.is_cpu() || half) params.To(device, half ? at::kHalf : at::kFloat);
  backbone->Prepare();
  for (auto& h : heads) h.second->Prepare();
  const std::string describe = "native " + backbone->Describe() + " + " +
                               DescribeHeadsAndWeights(heads, params, device.str(), half, channels_last, origin);
  return std::make_unique<NativeNetwork>(std::move(backbone), std::move(heads), describe, device, half,
                                         channels_last);
}

}  // namespace posebatch::native
