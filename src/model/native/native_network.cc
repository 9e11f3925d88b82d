#include "model/native/native_network.h"

#include <atomic>
#include <mutex>

#include "model/device.h"
#include "model/native/cond_prenet.h"
#include "model/native/int8_conv.h"
#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {
thread_local bool synthetic_input = false;  // see ScopedSyntheticInput
}  // namespace

ScopedSyntheticInput::ScopedSyntheticInput() : previous_(synthetic_input) { synthetic_input = true; }
ScopedSyntheticInput::~ScopedSyntheticInput() { synthetic_input = previous_; }
bool ScopedSyntheticInput::Active() { return synthetic_input; }

}  // namespace posebatch

namespace posebatch::native {
namespace {

class NativeNetwork : public Network {
 public:
  NativeNetwork(std::unique_ptr<Backbone> backbone, NamedHeads heads, std::string describe, c10::Device device,
                at::ScalarType dtype, bool channels_last,
                std::vector<std::shared_ptr<Int8Convolution>> int8_convolutions)
      : backbone_(std::move(backbone)),
        heads_(std::move(heads)),
        describe_(std::move(describe)),
        device_(device),
        dtype_(dtype),
        channels_last_(channels_last),
        int8_convolutions_(std::move(int8_convolutions)),
        calibrated_(int8_convolutions_.empty()) {}

  HeadOutputs Forward(const at::Tensor& batch) override {
    at::Tensor x = batch;
    // Until calibrated, the int8 convolutions run float32 (synthetic inputs do not calibrate).
    if (!calibrated_.load(std::memory_order_acquire) && !ScopedSyntheticInput::Active()) Calibrate(x);
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
  std::string precision() const override {
    if (!int8_convolutions_.empty()) return "int8";
    return dtype_ == at::kHalf ? "float16" : dtype_ == at::kBFloat16 ? "bf16" : "float32";
  }
  void ResetCalibration() override {
    std::lock_guard<std::mutex> lock(calibrate_mutex_);
    if (int8_convolutions_.empty()) return;
    for (auto& c : int8_convolutions_) c->Reset();
    calibrated_.store(false, std::memory_order_release);
  }
  bool calibrated() const override { return calibrated_.load(std::memory_order_acquire); }

 private:
  // int8: the activation ranges come from one float32 pass over the first frame this network
  // sees (the first of its first batch, so that the batch size does not change them); they are
  // then fixed for the network's life. Concurrent first calls wait here.
  void Calibrate(const at::Tensor& x) {
    std::lock_guard<std::mutex> lock(calibrate_mutex_);
    if (calibrated_.load(std::memory_order_relaxed)) return;
    {
      ScopedInt8Calibration calibration;
      backbone_->Forward(x.narrow(0, 0, 1));
    }
    for (auto& c : int8_convolutions_) c->Freeze();
    calibrated_.store(true, std::memory_order_release);
  }

  std::unique_ptr<Backbone> backbone_;
  NamedHeads heads_;
  std::string describe_;
  c10::Device device_;
  at::ScalarType dtype_;  // of weights and activations
  bool channels_last_;
  std::vector<std::shared_ptr<Int8Convolution>> int8_convolutions_;  // --precision int8
  std::mutex calibrate_mutex_;
  std::atomic<bool> calibrated_;
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
  if (precision != "float32" && precision != "bf16" && precision != "int8") {
    Bad(origin, "unknown precision '" + precision + "' (float32, bf16 or int8)");
  }
  // bfloat16 / int8 where oneDNN has the instructions for them; elsewhere float32 (analyze says
  // so).
  const bool bf16 = precision == "bf16" && device.is_cpu() && CpuSupportsBFloat16();
  const bool int8 = precision == "int8" && device.is_cpu() && CpuSupportsInt8() && QuantizedOneDnnAvailable();
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
  // oneDNN's reduced-precision kernels want NHWC: in NCHW every convolution reorders (bfloat16:
  // measured 3.4x slower).
  if (bf16 || int8) channels_last = true;
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
  // int8: the backbone's convolutions (the heads stay float32, as with bfloat16), except those
  // reading few channels per group: the stem on the image (1-2% of the work; keeping it float32
  // took the p99 keypoint shift on the open-field frames from 3.2 to 2.3 px in an earlier
  // configuration) and depthwise ones.
  std::vector<std::shared_ptr<Int8Convolution>> int8_convolutions;
  if (int8) {
    for (auto& c : params.Convolutions("backbone.")) {
      if (c->input_channels_per_group() < 16) continue;
      c->Enable();
      int8_convolutions.push_back(c);
    }
  }
  const std::string describe = "native " + backbone->Describe() + " + " +
                               DescribeHeadsAndWeights(heads, params, device.str(), half, channels_last, origin) +
                               (bf16 ? ", bfloat16" : "") +
                               (int8 ? ", int8 (" + std::to_string(int8_convolutions.size()) + " convolutions)" : "");
  const at::ScalarType dtype = half ? at::kHalf : bf16 ? at::kBFloat16 : at::kFloat;
  return std::make_unique<NativeNetwork>(std::move(backbone), std::move(heads), describe, device, dtype, channels_last,
                                         std::move(int8_convolutions));
}

}  // namespace posebatch::native
