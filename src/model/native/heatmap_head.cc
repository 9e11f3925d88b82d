// DeepLabCut's HeatmapHead: a heatmap DeconvModule and an optional location-refinement one,
// each ConvTranspose2d layers (ReLU between them) and an optional final Conv2d.
#include "model/native/deconv_module.h"
#include "model/native/registry.h"
#include "posebatch/status.h"

namespace posebatch::native {
namespace {

class HeatmapHead : public Head {
 public:
  HeatmapHead(const YAML::Node& cfg, int64_t in_channels, ParamSet& p, const std::string& prefix)
      : heatmap_(cfg["heatmap_config"], in_channels, p, prefix + "heatmap_head.") {
    const YAML::Node locref = cfg["locref_config"];
    if (locref && !locref.IsNull())
      locref_ = std::make_unique<DeconvModule>(locref, in_channels, p, prefix + "locref_head.");
  }
  void Prepare() override {
    heatmap_.Prepare();
    if (locref_) locref_->Prepare();
  }
  std::map<std::string, at::Tensor> Forward(const at::Tensor& f) const override {
    std::map<std::string, at::Tensor> out;
    out["heatmap"] = heatmap_.Forward(f);
    if (locref_) out["locref"] = locref_->Forward(f);
    return out;
  }

 private:
  DeconvModule heatmap_;
  std::unique_ptr<DeconvModule> locref_;
};

}  // namespace

void RegisterHeatmapHead() {
  HeadRegistry()["HeatmapHead"] = [](const YAML::Node& cfg, int64_t in, ParamSet& p, const std::string& prefix) {
    return std::unique_ptr<Head>(new HeatmapHead(cfg, in, p, prefix));
  };
}

}  // namespace posebatch::native
