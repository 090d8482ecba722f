#include "cigl/core/calibration.hpp"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "cigl/error.hpp"

namespace cigl {

double fit_temperature(const torch::Tensor& logits,
                       const torch::Tensor& labels) {
  if (logits.size(0) == 0) throw Error("no examples to fit a temperature on");
  const auto z = logits.to(torch::kDouble);
  const auto zy = z.gather(1, labels.unsqueeze(1)).squeeze(1);
  // f(b) = mean(logsumexp(b z) - b z_y); f' = mean(E_p[z] - z_y);
  // f'' = mean(Var_p[z]) >= 0, with p = softmax(b z).
  double beta = 1.0;
  for (int i = 0; i < 100; ++i) {
    auto p = torch::softmax(beta * z, 1);
    auto mean = (p * z).sum(1);
    auto variance = (p * z * z).sum(1) - mean * mean;
    const double gradient = (mean - zy).mean().item<double>();
    const double curvature = variance.mean().item<double>();
    if (curvature <= 1e-12) break;  // flat: every temperature is as good
    double step = gradient / curvature;
    // Stay positive: at most halve beta per step.
    if (beta - step < beta / 2) step = beta / 2;
    beta -= step;
    if (std::abs(step) < 1e-10 * beta) break;
  }
  return 1.0 / beta;
}

ReliabilityBins ReliabilityBins::from(const torch::Tensor& probabilities,
                                      const torch::Tensor& labels,
                                      std::int64_t bins) {
  ReliabilityBins out;
  out.count.assign(static_cast<std::size_t>(bins), 0);
  out.confidence.assign(static_cast<std::size_t>(bins), 0);
  out.accuracy.assign(static_cast<std::size_t>(bins), 0);
  auto [top, predicted] = probabilities.to(torch::kDouble).max(1);
  auto hit = predicted.eq(labels);
  const auto n = top.size(0);
  auto conf = top.accessor<double, 1>();
  auto ok = hit.accessor<bool, 1>();
  for (std::int64_t i = 0; i < n; ++i) {
    auto b = static_cast<std::int64_t>(std::ceil(conf[i] * bins)) - 1;
    // The ceiling can land one bin off at an exact edge: compare instead.
    while (b > 0 && conf[i] <= static_cast<double>(b) / bins) --b;
    while (b < bins - 1 && conf[i] > static_cast<double>(b + 1) / bins) ++b;
    b = std::max<std::int64_t>(0, b);
    out.count[b] += 1;
    out.confidence[b] += conf[i];
    out.accuracy[b] += ok[i] ? 1 : 0;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::int64_t b = 0; b < bins; ++b) {
    out.ece += std::abs(out.accuracy[b] - out.confidence[b]);
    if (out.count[b] == 0) {
      out.confidence[b] = out.accuracy[b] = nan;
    } else {
      out.confidence[b] /= out.count[b];
      out.accuracy[b] /= out.count[b];
    }
  }
  out.ece = n == 0 ? nan : out.ece / static_cast<double>(n);
  return out;
}

}  // namespace cigl
