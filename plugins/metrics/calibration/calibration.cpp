// Metrics `mce`, `adaptive_ece`, `classwise_ece`, `top5` and `reliability`
// over the streamed log-probabilities (float64, CPU), as algorithms.md
// defines them. Equal-width bins are the SDK's (cigl/binning.hpp): bin i
// holds the confidences in (i/n, (i+1)/n], a confidence of 0 the first.
#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "cigl/binning.hpp"
#include "cigl/error.hpp"
#include "cigl/metric.hpp"
#include "cigl/plugin.hpp"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Bins = cigl::ConfidenceBins;  // cigl/binning.hpp

std::pair<torch::Tensor, torch::Tensor> top_confidence_and_hit(
    const torch::Tensor& log_probs, const torch::Tensor& labels) {
  auto [top, predicted] = log_probs.max(1);
  return {top.exp(), predicted.eq(labels).to(torch::kDouble)};
}

/// Maximum calibration error over non-empty equal-width bins.
class Mce : public cigl::Metric {
 public:
  explicit Mce(std::int64_t bins) : bins_(bins) {}
  void reset() override { bins_.reset(); }
  void update(const torch::Tensor& lp, const torch::Tensor& y) override {
    auto [confidence, hit] = top_confidence_and_hit(lp, y);
    bins_.add(confidence, hit);
  }
  double value() const override { return bins_.max_gap(); }

 private:
  Bins bins_;
};

/// The reliability diagram's data (per bin: count, mean confidence,
/// accuracy, edges) in metrics.json; no value of its own (the same bins'
/// ECE is the `ece` metric's), so no column in tables.
class Reliability : public cigl::Metric {
 public:
  explicit Reliability(std::int64_t bins) : bins_(bins) {}
  void reset() override { bins_.reset(); }
  void update(const torch::Tensor& lp, const torch::Tensor& y) override {
    auto [confidence, hit] = top_confidence_and_hit(lp, y);
    bins_.add(confidence, hit);
  }
  double value() const override { return kNaN; }
  bool scalar() const override { return false; }
  std::map<std::string, std::vector<double>> series() const override {
    return bins_.series();
  }

 private:
  Bins bins_;
};

/// ECE with equal-mass bins: the confidences sorted and split into
/// `n_bins` groups whose sizes differ by at most one (Nixon et al. 2019).
class AdaptiveEce : public cigl::Metric {
 public:
  explicit AdaptiveEce(std::int64_t bins) : bins_(bins) {}
  void reset() override {
    confidence_.clear();
    hit_.clear();
  }
  void update(const torch::Tensor& lp, const torch::Tensor& y) override {
    auto [confidence, hit] = top_confidence_and_hit(lp, y);
    confidence_.push_back(confidence);
    hit_.push_back(hit);
  }
  double value() const override {
    if (confidence_.empty()) return kNaN;
    auto confidence = torch::cat(confidence_);
    auto hit = torch::cat(hit_);
    const std::int64_t n = confidence.numel();
    if (n == 0) return kNaN;
    auto order = std::get<1>(confidence.sort(/*stable=*/true, 0, false));
    confidence = confidence.index_select(0, order);
    hit = hit.index_select(0, order);
    double total = 0;
    const std::int64_t bins = std::min(bins_, n);
    for (std::int64_t b = 0; b < bins; ++b) {
      const std::int64_t begin = b * n / bins, end = (b + 1) * n / bins;
      const auto len = end - begin;
      total += std::abs(hit.narrow(0, begin, len).sum().item<double>() -
                        confidence.narrow(0, begin, len).sum().item<double>());
    }
    return total / static_cast<double>(n);
  }

 private:
  std::int64_t bins_;
  std::vector<torch::Tensor> confidence_, hit_;
};

/// Class-wise ECE (Kull et al. 2019): for every class, equal-width bins
/// over that class's probability, the share of examples of that class per
/// bin against the mean probability; averaged over classes.
class ClasswiseEce : public cigl::Metric {
 public:
  explicit ClasswiseEce(std::int64_t bins) : n_bins_(bins) {}
  void reset() override { bins_.clear(); }
  void update(const torch::Tensor& lp, const torch::Tensor& y) override {
    const auto classes = lp.size(1);
    // One Bins each: copies would share their tensors.
    while (static_cast<std::int64_t>(bins_.size()) < classes) {
      bins_.emplace_back(n_bins_);
    }
    auto p = lp.exp();
    auto onehot = torch::zeros_like(p).scatter_(1, y.unsqueeze(1), 1.0);
    for (std::int64_t c = 0; c < classes; ++c) {
      bins_[static_cast<std::size_t>(c)].add(p.select(1, c).contiguous(),
                                             onehot.select(1, c).contiguous());
    }
  }
  double value() const override {
    if (bins_.empty()) return kNaN;
    double sum = 0;
    for (const auto& b : bins_) sum += b.expected_gap();
    return sum / static_cast<double>(bins_.size());
  }

 private:
  std::int64_t n_bins_;
  std::vector<Bins> bins_;
};

/// Top-5 accuracy: the label is among the five most probable classes.
/// Undefined (NaN, reported as null) with 5 classes or fewer, where it
/// would always be 1.
class Top5 : public cigl::Metric {
 public:
  void reset() override {
    hits_ = 0;
    count_ = 0;
    few_classes_ = false;
  }
  void update(const torch::Tensor& lp, const torch::Tensor& y) override {
    count_ += y.size(0);
    if (lp.size(1) <= 5) {
      few_classes_ = true;
      return;
    }
    auto top = std::get<1>(lp.topk(5, 1));
    hits_ += top.eq(y.unsqueeze(1)).any(1).sum().item<double>();
  }
  double value() const override {
    return count_ == 0 || few_classes_ ? kNaN
                                       : hits_ / static_cast<double>(count_);
  }

 private:
  bool few_classes_ = false;
  double hits_ = 0;
  std::int64_t count_ = 0;
};

cigl::ParamSpec bins_param(std::int64_t def) {
  return cigl::ParamSpec::integer("n_bins", def, "number of bins").min(1);
}

void register_calibration(cigl::Registrar& r) {
  r.add<cigl::Metric>(
      {"mce",
       "maximum calibration error over non-empty equal-width bins",
       {bins_param(15)}},
      [](const cigl::Params& p) {
        return std::make_shared<Mce>(p.integer("n_bins"));
      });
  r.add<cigl::Metric>(
      {"adaptive_ece", "ECE with equal-mass bins", {bins_param(15)}},
      [](const cigl::Params& p) {
        return std::make_shared<AdaptiveEce>(p.integer("n_bins"));
      });
  r.add<cigl::Metric>(
      {"classwise_ece",
       "class-wise ECE, averaged over classes",
       {bins_param(15)}},
      [](const cigl::Params& p) {
        return std::make_shared<ClasswiseEce>(p.integer("n_bins"));
      });
  r.add<cigl::Metric>(
      {"top5", "top-5 accuracy (more than 5 classes)", {}},
      [](const cigl::Params&) { return std::make_shared<Top5>(); });
  r.add<cigl::Metric>(
      {"reliability",
       "reliability diagram data per bin (count, confidence, accuracy) in "
       "metrics.json; no table column",
       {bins_param(15)}},
      [](const cigl::Params& p) {
        return std::make_shared<Reliability>(p.integer("n_bins"));
      });
}

}  // namespace

CIGL_PLUGIN("calibration_metrics", "1.1.0", register_calibration)
