#include "model/torchscript_network.h"

#include <torch/script.h>

#include "model/device.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

class TorchScriptNetwork : public Network {
 public:
  TorchScriptNetwork(torch::jit::Module module, std::string path, torch::Device device, std::string default_head)
      : module_(module),
        path_(std::move(path)),
        device_(device),  // (a Module is a shared handle)
        default_head_(std::move(default_head)) {
    module_.eval();
  }

  HeadOutputs Forward(const at::Tensor& batch) override {
    std::vector<torch::jit::IValue> inputs{batch.to(device_, /*non_blocking=*/true)};
    torch::jit::IValue out = module_.forward(inputs);
    return Convert(out);
  }

  std::string Describe() const override { return "TorchScript module " + path_ + " on " + device_.str(); }

 private:
  at::Tensor ToCpu(const torch::jit::IValue& v, const std::string& what) const {
    if (!v.isTensor()) Bad(what + " is not a tensor");
    at::Tensor t = v.toTensor();
    if (!t.device().is_cpu()) t = t.to(at::kCPU);
    if (t.scalar_type() != at::kFloat) t = t.to(at::kFloat);
    return t.contiguous();
  }

  [[noreturn]] void Bad(const std::string& what) const {
    throw Error(Status::ModelError(path_ + ": model output " + what));
  }

  HeadOutputs Convert(const torch::jit::IValue& out) const {
    HeadOutputs result;
    if (out.isGenericDict()) {
      for (const auto& item : out.toGenericDict()) {
        if (!item.key().isString()) Bad("dict has a non-string key");
        std::string key = item.key().toStringRef();
        if (item.value().isGenericDict()) {
          for (const auto& inner : item.value().toGenericDict()) {
            if (!inner.key().isString()) Bad("dict has a non-string key");
            std::string name = inner.key().toStringRef();
            result[key][name] = ToCpu(inner.value(), "'" + key + "/" + name + "'");
          }
        } else {
          result[default_head_][key] = ToCpu(item.value(), "'" + key + "'");
        }
      }
    } else if (out.isTuple() || out.isList()) {
      std::vector<torch::jit::IValue> items;
      if (out.isTuple()) {
        for (const auto& e : out.toTupleRef().elements()) items.push_back(e);
      } else {
        for (const auto& e : out.toListRef()) items.push_back(e);
      }
      if (items.empty() || items.size() > 2) Bad("tuple must be (heatmap[, locref])");
      result[default_head_]["heatmap"] = ToCpu(items[0], "heatmap");
      if (items.size() == 2) result[default_head_]["locref"] = ToCpu(items[1], "locref");
    } else if (out.isTensor()) {
      result[default_head_]["heatmap"] = ToCpu(out, "heatmap");
    } else {
      Bad("has an unsupported type (" + out.tagKind() + ")");
    }
    return result;
  }

  torch::jit::Module module_;
  std::string path_;
  torch::Device device_;
  std::string default_head_;
};

}  // namespace

std::unique_ptr<Network> LoadTorchScriptNetwork(const std::string& path, const std::string& device,
                                                const std::string& default_head) {
  const torch::Device dev = ResolveDevice(device);
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, dev);
  } catch (const c10::Error& e) {
    std::string first_line = e.what_without_backtrace();
    first_line = first_line.substr(0, first_line.find('\n'));
    throw Error(
        Status::ModelError(path + ": not a loadable TorchScript file (" + first_line +
                           "). DeepLabCut export/snapshot files are read by the native loader, not as TorchScript."));
  }
  return std::make_unique<TorchScriptNetwork>(std::move(module), path, dev, default_head);
}

}  // namespace posebatch
