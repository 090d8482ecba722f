#pragma once
// Post-hoc calibration: temperature scaling. (The bins of ECE and of the
// reliability diagram are cigl/binning.hpp.)
#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

/// The temperature T > 0 minimising the mean NLL of softmax(logits / T)
/// (Guo et al. 2017). NLL is convex in 1/T, so Newton's method on 1/T
/// finds it; float64 logits {n, classes}, int64 labels {n}.
CIGL_API double fit_temperature(const torch::Tensor& logits,
                                const torch::Tensor& labels);

}  // namespace cigl
