#include "cigl/binning.hpp"

#include <limits>

#include <torch/torch.h>

#include "cigl/error.hpp"

namespace cigl {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> values(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(),
                             c.data_ptr<double>() + c.numel());
}
}  // namespace

ConfidenceBins::ConfidenceBins(std::int64_t n) : n_(n) {
  if (n < 1) throw Error("confidence bins: need at least one bin");
  reset();
}

void ConfidenceBins::reset() {
  count_ = torch::zeros({n_}, torch::kDouble);
  confidence_ = torch::zeros({n_}, torch::kDouble);
  hits_ = torch::zeros({n_}, torch::kDouble);
}

torch::Tensor ConfidenceBins::bin_of(const torch::Tensor& confidence) const {
  auto c = confidence.to(torch::kDouble);
  const auto n = static_cast<double>(n_);
  // ceil(c n) - 1 is the bin up to rounding in c n; the edges i/n, each
  // computed as one division, decide.
  auto bin = (c * n).ceil().sub_(1).to(torch::kLong).clamp_(0, n_ - 1);
  auto lower = bin.to(torch::kDouble) / n;
  bin = torch::where(c.le(lower).logical_and(bin.gt(0)), bin - 1, bin);
  auto upper = (bin.to(torch::kDouble) + 1) / n;
  bin = torch::where(c.gt(upper).logical_and(bin.lt(n_ - 1)), bin + 1, bin);
  return bin;
}

void ConfidenceBins::add(const torch::Tensor& confidence,
                         const torch::Tensor& hit) {
  auto c = confidence.to(torch::kCPU, torch::kDouble).reshape(-1);
  auto h = hit.to(torch::kCPU, torch::kDouble).reshape(-1);
  if (c.numel() != h.numel()) {
    throw Error("confidence bins: " + std::to_string(c.numel()) +
                " confidences but " + std::to_string(h.numel()) + " hits");
  }
  auto bin = bin_of(c);
  count_.index_add_(0, bin, torch::ones_like(c));
  confidence_.index_add_(0, bin, c);
  hits_.index_add_(0, bin, h);
}

double ConfidenceBins::total() const { return count_.sum().item<double>(); }

double ConfidenceBins::expected_gap() const {
  const double n = total();
  return n == 0 ? kNaN : (hits_ - confidence_).abs().sum().item<double>() / n;
}

double ConfidenceBins::max_gap() const {
  auto filled = count_.gt(0);
  if (!filled.any().item<bool>()) return kNaN;
  auto gap = (hits_ - confidence_).abs() / count_.clamp_min(1);
  return gap.masked_select(filled).max().item<double>();
}

BinSummary ConfidenceBins::summary() const {
  BinSummary s;
  auto edges = torch::arange(n_ + 1, torch::kDouble) / static_cast<double>(n_);
  s.lower = values(edges.narrow(0, 0, n_));
  s.upper = values(edges.narrow(0, 1, n_));
  s.count = values(count_);
  auto empty = count_.eq(0);
  auto safe = count_.clamp_min(1);
  s.confidence = values(
      torch::where(empty, torch::full_like(count_, kNaN), confidence_ / safe));
  s.accuracy =
      values(torch::where(empty, torch::full_like(count_, kNaN), hits_ / safe));
  s.total = total();
  s.ece = expected_gap();
  return s;
}

std::map<std::string, std::vector<double>> ConfidenceBins::series() const {
  BinSummary s = summary();
  return {{"count", s.count},
          {"confidence", s.confidence},
          {"accuracy", s.accuracy},
          {"lower", s.lower},
          {"upper", s.upper}};
}

ConfidenceBins ConfidenceBins::of_predictions(
    const torch::Tensor& probabilities, const torch::Tensor& labels,
    std::int64_t n) {
  ConfidenceBins bins(n);
  if (probabilities.numel() == 0) return bins;
  auto [top, predicted] = probabilities.to(torch::kCPU, torch::kDouble).max(1);
  bins.add(top, predicted.eq(labels.to(torch::kCPU)).to(torch::kDouble));
  return bins;
}

}  // namespace cigl
