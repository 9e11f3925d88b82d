// DeepLabCut's DeconvModule (heads/simple_head.py): ConvTranspose2d layers with ReLUs between
// them and an optional final Conv2d. Shared by HeatmapHead and DLCRNetHead. Immutable after
// Prepare(): Forward may run concurrently.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "model/native/layers.h"
#include "posebatch/status.h"

namespace posebatch::native {

class DeconvModule {
 public:
  DeconvModule(const YAML::Node& cfg, int64_t in_channels, ParamSet& p, const std::string& prefix) {
    std::vector<int64_t> channels, kernels, strides;
    for (const auto& c : cfg["channels"]) channels.push_back(c.as<int64_t>());
    if (cfg["kernel_size"])
      for (const auto& k : cfg["kernel_size"]) kernels.push_back(k.as<int64_t>());
    if (cfg["strides"])
      for (const auto& s : cfg["strides"]) strides.push_back(s.as<int64_t>());
    if (channels.empty() || kernels.size() + 1 != channels.size() || strides.size() != kernels.size()) {
      throw Error(Status::ModelError(prefix + ": channels must be one longer than kernel_size and strides"));
    }
    if (channels[0] != in_channels) {
      throw Error(Status::ModelError(prefix + ": head expects " + std::to_string(channels[0]) +
                                     " input channels but the backbone gives " + std::to_string(in_channels)));
    }
    for (size_t i = 0; i < kernels.size(); ++i) {
      // nn.Sequential index: deconvolutions at 0, 2, 4, ... with ReLUs between them.
      layers_.emplace_back(p, prefix + "deconv_layers." + std::to_string(2 * i) + ".", channels[i], channels[i + 1],
                           kernels[i], strides[i]);
    }
    if (cfg["final_conv"] && !cfg["final_conv"].IsNull()) {
      const auto& fc = cfg["final_conv"];
      has_final_ = true;
      final_ = Conv2d(p, prefix + "final_conv.", channels.back(), fc["out_channels"].as<int64_t>(),
                      fc["kernel_size"].as<int64_t>(), 1, 0, 1, /*bias=*/true);
    }
  }

  void Prepare() {
    for (auto& l : layers_) l.Prepare();
  }

  at::Tensor Forward(at::Tensor x) const {
    for (size_t i = 0; i < layers_.size(); ++i) {
      x = layers_[i](x);
      if (i + 1 < layers_.size()) x.relu_();
    }
    return has_final_ ? final_(x) : x;
  }

 private:
  std::vector<ConvTranspose2d> layers_;
  bool has_final_ = false;
  Conv2d final_;
};

}  // namespace posebatch::native
