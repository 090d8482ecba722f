#pragma once
// Post-hoc calibration and the data behind the run folder's pictures.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

/// The temperature T > 0 minimising the mean NLL of softmax(logits / T)
/// (Guo et al. 2017). NLL is convex in 1/T, so Newton's method on 1/T
/// finds it; float64 logits {n, classes}, int64 labels {n}.
CIGL_API double fit_temperature(const torch::Tensor& logits,
                                const torch::Tensor& labels);

/// Equal-width confidence bins of the top-class probability, as ECE uses
/// them: bin i holds (i/n, (i+1)/n], a confidence of 0 the first bin.
struct CIGL_API ReliabilityBins {
  std::vector<double> count, confidence, accuracy;  ///< NaN where empty
  double ece = 0;
  static ReliabilityBins from(const torch::Tensor& probabilities,
                              const torch::Tensor& labels, std::int64_t bins);
};

}  // namespace cigl
