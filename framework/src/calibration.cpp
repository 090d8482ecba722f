#include "cigl/core/calibration.hpp"

#include <cmath>

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

}  // namespace cigl
