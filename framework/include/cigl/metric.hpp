#pragma once
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cigl/component.hpp"

namespace cigl {

/// A streaming evaluation metric. The evaluator computes log-probabilities
/// once per batch ({batch, classes}, float64, CPU) and feeds every metric
/// the same tensor, so no metric needs a pass of its own.
class CIGL_API Metric {
 public:
  virtual ~Metric();
  virtual void reset() = 0;
  virtual void update(const torch::Tensor& log_probs,
                      const torch::Tensor& labels) = 0;
  virtual double value() const = 0;
  /// False for a metric that only reports series() (the reliability
  /// diagram's bins): its value() is not shown in any table, history.csv
  /// or metrics.json "test" object.
  virtual bool scalar() const { return true; }
  /// Named series reported beside the value, e.g. a reliability diagram's
  /// per-bin count, confidence and accuracy; written to metrics.json.
  virtual std::map<std::string, std::vector<double>> series() const {
    return {};
  }
};

template <>
struct ComponentTraits<Metric> {
  static constexpr Kind kind = Kind::metric;
  using Context = NoContext;
};

}  // namespace cigl
