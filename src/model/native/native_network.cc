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
                std::string describe, c10::Device device, at::ScalarType dtype, bool channels_last)
      : backbone_(std::move(backbone)),
        heads_(std::move(heads)),
        describe_(std::move(describe)),
        device_(device),
        dtype_(dtype),
        channels_last_(channels_last) {}

  HeadOutputs Forward(const at::Tensor& batch) override {
    at::Tensor x = batch;
    // From pinned slot memory the copy is asynchronous, queued before the forward's kernels.
    if (!device_.is_cpu()) x = x.to(device_, /*non_blocking=*/true);
    // float16 (GPU) or bfloat16 (CPU); an explicit memory format: a preserve-format copy of a
    // channels-last tensor takes a slow path (90x slower, measured).
    if (dtype_ != at::kFloat) x = x.to(dtype_, false, false, x.suggest_memory_format());
    at::Tensor features = backbone_->Forward(x);
    // bfloat16 backbones feed float32 heads: the heads' outputs are argmax'd and refined by
    // sub-pixel offsets, where bfloat16's 8-bit mantissa moves keypoints by whole pixels.
    if (dtype_ == at::kBFloat16) features = features.to(at::kFloat, false, false, features.suggest_memory_format());
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
  at::ScalarType dtype_;  // of weights and activations
  bool channels_last_;
};

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(Status::ModelError(origin + ": " + what));
}

}  // namespace

std::unique_ptr<Network> BuildNativeNetwork(const YAML::Node& config, StateDict state_dict, const std::string& origin,
                                            const std::string& device_name, bool half, bool channels_last,
                                            const std::string& precision) {
  RegisterAll();
  const c10::Device device = ResolveDevice(device_name);
  if (half && device.is_cpu()) Bad(origin, "float16 (--half) needs a GPU (--device cuda)");
  if (precision != "float32" && precision != "bf16") Bad(origin, "unknown precision '" + precision + "'");
  // bfloat16 where oneDNN has the instructions for it; elsewhere float32 (analyze says so).
  const bool bf16 = precision == "bf16" && device.is_cpu() && CpuSupportsBFloat16();
  // oneDNN's bfloat16 kernels want NHWC: in NCHW every convolution reorders (measured 3.4x slower).
  if (bf16) channels_last = true;
  const YAML::Node model = config["model"];
  if (!model || !model.IsMap()) Bad(origin, "config has no model block");
  const YAML::Node bb = model["backbone"];
  if (!bb || !bb["type"]) Bad(origin, "config has no model.backbone.type");
  const std::string bb_type = bb["type"].as<std::string>();
  // Conditional top-down: a network with a second input (the condition poses).
  // They run float32 even with --precision bf16 (analyze says so): the golden CTD network moves
  // its outputs by more than their range when a condition moves by one pixel, too sensitive to
  // tell bfloat16 rounding from a wrong kernel, and no trained CTD model with labels is here to
  // measure the accuracy cost on.
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
  if (bf16) {
    params.To(device, at::kBFloat16, "backbone.");  // heads stay float32 (see Forward)
  } else if (!device.is_cpu() || half) {
    params.To(device, half ? at::kHalf : at::kFloat);
  }
  backbone->Prepare();
  for (auto& h : heads) h.second->Prepare();
  const std::string describe = "native " + backbone->Describe() + " + " +
                               DescribeHeadsAndWeights(heads, params, device.str(), half, channels_last, origin) +
                               (bf16 ? ", bfloat16" : "");
  const at::ScalarType dtype = half ? at::kHalf : bf16 ? at::kBFloat16 : at::kFloat;
  return std::make_unique<NativeNetwork>(std::move(backbone), std::move(heads), describe, device, dtype,
                                         channels_last);
}

}  // namespace posebatch::native
