#pragma once
// Equal-width confidence bins, the one binning behind ECE, MCE, class-wise
// ECE, the `reliability` metric and the reliability diagram: bin i of n
// holds the confidences in (i/n, (i+1)/n], and a confidence of exactly 0
// joins bin 0 (Guo et al. 2017).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

/// What the bins hold, as plain numbers (per bin, in order).
struct CIGL_API BinSummary {
  std::vector<double> lower, upper;  ///< edges: i/n and (i+1)/n
  std::vector<double> count;         ///< examples per bin
  std::vector<double> confidence;    ///< mean confidence; NaN where empty
  std::vector<double> accuracy;      ///< mean hit (accuracy); NaN where empty
  double total = 0;                  ///< examples in all bins
  double ece = 0;  ///< sum_b count_b |accuracy_b - confidence_b| / total
};

/// Streams (confidence, hit) pairs into `n` equal-width bins; float64 on
/// the CPU. A metric keeps one and adds every batch to it.
class CIGL_API ConfidenceBins {
 public:
  explicit ConfidenceBins(std::int64_t n);

  std::int64_t size() const { return n_; }
  void reset();
  /// Adds one batch: `confidence` in [0, 1] and `hit` (1 for a correct
  /// prediction, 0 otherwise, or any weight), both 1-D of the same length.
  void add(const torch::Tensor& confidence, const torch::Tensor& hit);

  /// The bin of each confidence (int64, same shape).
  torch::Tensor bin_of(const torch::Tensor& confidence) const;

  double total() const;
  /// sum_b |hits_b - confidence_b| / total: ECE of the top-class
  /// confidence (or one class's share of class-wise ECE); NaN when empty.
  double expected_gap() const;
  /// max over non-empty bins of |accuracy_b - confidence_b|: MCE; NaN
  /// when every bin is empty.
  double max_gap() const;
  BinSummary summary() const;
  /// count, confidence, accuracy, lower and upper per bin, as the
  /// reliability metric reports them in metrics.json.
  std::map<std::string, std::vector<double>> series() const;

  /// Bins of the top-class probability of `probabilities` ({n, classes})
  /// against `labels` ({n}): the reliability diagram of a run.
  static ConfidenceBins of_predictions(const torch::Tensor& probabilities,
                                       const torch::Tensor& labels,
                                       std::int64_t n);

 private:
  std::int64_t n_;
  torch::Tensor count_, confidence_, hits_;
};

}  // namespace cigl
