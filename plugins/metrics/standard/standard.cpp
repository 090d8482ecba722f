// Metrics `accuracy`, `ece`, `nll` and `brier` over streamed
// log-probabilities (float64, CPU), as defined in algorithms.md.
#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "cigl/binning.hpp"
#include "cigl/metric.hpp"
#include "cigl/plugin.hpp"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Shared bookkeeping: a running sum over examples, reported as a mean.
class MeanMetric : public cigl::Metric {
 public:
  void reset() override {
    sum_ = 0;
    count_ = 0;
  }
  void update(const torch::Tensor& log_probs,
              const torch::Tensor& labels) override {
    sum_ += per_example_sum(log_probs, labels);
    count_ += labels.size(0);
  }
  double value() const override {
    return count_ == 0 ? kNaN : sum_ / static_cast<double>(count_);
  }

 protected:
  virtual double per_example_sum(const torch::Tensor& log_probs,
                                 const torch::Tensor& labels) const = 0;

 private:
  double sum_ = 0;
  std::int64_t count_ = 0;
};

class Accuracy : public MeanMetric {
  double per_example_sum(const torch::Tensor& log_probs,
                         const torch::Tensor& labels) const override {
    return log_probs.argmax(1).eq(labels).sum().item<double>();
  }
};

/// Mean of -log p(true class), straight from log-softmax: never a clamped
/// probability, so confident mistakes cost what they should.
class Nll : public MeanMetric {
  double per_example_sum(const torch::Tensor& log_probs,
                         const torch::Tensor& labels) const override {
    return -log_probs.gather(1, labels.unsqueeze(1)).sum().item<double>();
  }
};

/// Mean over examples of sum_c (p_c - onehot_c)^2.
class Brier : public MeanMetric {
  double per_example_sum(const torch::Tensor& log_probs,
                         const torch::Tensor& labels) const override {
    auto p = log_probs.exp();
    auto onehot = torch::zeros_like(p).scatter_(1, labels.unsqueeze(1), 1.0);
    return (p - onehot).pow(2).sum().item<double>();
  }
};

/// Expected calibration error over the top-class confidence, in the SDK's
/// equal-width bins (cigl/binning.hpp).
class Ece : public cigl::Metric {
 public:
  explicit Ece(std::int64_t bins) : bins_(bins) {}
  void reset() override { bins_.reset(); }
  void update(const torch::Tensor& log_probs,
              const torch::Tensor& labels) override {
    auto [top, predicted] = log_probs.max(1);
    bins_.add(top.exp(), predicted.eq(labels).to(torch::kDouble));
  }
  double value() const override { return bins_.expected_gap(); }

 private:
  cigl::ConfidenceBins bins_;
};

void register_metrics(cigl::Registrar& r) {
  r.add<cigl::Metric>(
      {"accuracy", "top-1 accuracy", {}},
      [](const cigl::Params&) { return std::make_shared<Accuracy>(); });
  r.add<cigl::Metric>(
      {"nll", "negative log-likelihood (mean)", {}},
      [](const cigl::Params&) { return std::make_shared<Nll>(); });
  r.add<cigl::Metric>(
      {"brier",
       "Brier score (mean squared error of the "
       "probability vector)",
       {}},
      [](const cigl::Params&) { return std::make_shared<Brier>(); });
  r.add<cigl::Metric>(
      {"ece",
       "expected calibration error, equal-width confidence bins",
       {cigl::ParamSpec::integer("n_bins", 15, "number of bins").min(1)}},
      [](const cigl::Params& p) {
        return std::make_shared<Ece>(p.integer("n_bins"));
      });
}

}  // namespace

CIGL_PLUGIN("standard_metrics", "1.1.0", register_metrics)
