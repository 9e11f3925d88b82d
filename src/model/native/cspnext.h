// Pieces of the CSPNeXt backbone shared with other native modules.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "model/native/layers.h"

namespace posebatch::native {

enum class Activation { kNone, kSiLU, kReLU };

// DeepLabCut's CSPConvModule with a norm layer: conv (no bias, optional groups), eval-mode
// batch norm (eps 1e-5), activation. Immutable after loading.
struct CspConvModule {
  CspConvModule() = default;
  CspConvModule(ParamSet& p, const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride,
                int64_t padding, int64_t groups, Activation act);
  at::Tensor operator()(const at::Tensor& x) const;
  std::shared_ptr<at::Tensor> weight;
  Norm2d norm;
  int64_t stride = 1, padding = 0, groups = 1;
  Activation act = Activation::kSiLU;
};

}  // namespace posebatch::native
