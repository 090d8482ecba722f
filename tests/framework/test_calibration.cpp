// Temperature scaling (calibration.cpp) against closed-form optima.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "cigl/core/calibration.hpp"

namespace cigl {
namespace {

TEST(TemperatureScaling, FindsTheClosedFormOptimum) {
  // Every example has logits (2, 0); 80% are class 0. The NLL is minimal
  // where sigmoid(2 / T) = 0.8, i.e. T = 2 / ln 4.
  auto logits = torch::tensor({2.0, 0.0}, torch::kDouble).repeat({10, 1});
  auto labels = torch::tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, torch::kLong);
  EXPECT_NEAR(fit_temperature(logits, labels), 2.0 / std::log(4.0), 1e-9);
}

TEST(TemperatureScaling, OverconfidentLogitsGetATemperatureAboveOne) {
  // Logits (6, 0) but only 60% right: T = 6 / ln(1.5) = 14.8.
  auto logits = torch::tensor({6.0, 0.0}, torch::kDouble).repeat({5, 1});
  auto labels = torch::tensor({0, 0, 0, 1, 1}, torch::kLong);
  EXPECT_NEAR(fit_temperature(logits, labels), 6.0 / std::log(1.5), 1e-8);
}

}  // namespace
}  // namespace cigl
