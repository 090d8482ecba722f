// The standard metrics against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cigl/core/config.hpp"
#include "cigl/metric.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double metric(const std::string& name, const torch::Tensor& log_probs,
              const std::vector<std::int64_t>& labels,
              std::int64_t n_bins = 0) {
  auto& registry = test::bundled_registry();
  Params params = default_params(registry, Kind::metric, name);
  if (n_bins > 0) params.set("n_bins", n_bins, "test");
  auto m = registry.make<Metric>(name, params);
  m->reset();
  auto y = torch::tensor(labels, torch::kLong);
  // Two batches, to check that metrics accumulate across update() calls.
  auto half = log_probs.size(0) / 2;
  m->update(log_probs.narrow(0, 0, half), y.narrow(0, 0, half));
  m->update(log_probs.narrow(0, half, log_probs.size(0) - half),
            y.narrow(0, half, y.size(0) - half));
  return m->value();
}

// Probabilities {0.8, 0.2}, {0.4, 0.6}, {1, 0}, {0.5, 0.5}; labels 0,0,0,1.
torch::Tensor four_examples() {
  return torch::tensor({0.8, 0.2, 0.4, 0.6, 1.0, 0.0, 0.5, 0.5}, torch::kDouble)
      .view({4, 2})
      .log();
}
const std::vector<std::int64_t> kLabels = {0, 0, 0, 1};

TEST(Metrics, AccuracyCountsTopOneHits) {
  // Hits: 0.8 (right), 0.6 (wrong class), 1.0 (right), tie -> class 0
  // (wrong).
  EXPECT_DOUBLE_EQ(metric("accuracy", four_examples(), kLabels), 0.5);
}

TEST(Metrics, NllIsMeanNegativeLogOfTheTrueClass) {
  const double expected =
      (-std::log(0.8) - std::log(0.4) - std::log(1.0) - std::log(0.5)) / 4;
  EXPECT_NEAR(metric("nll", four_examples(), kLabels), expected, 1e-12);
}

TEST(Metrics, NllOfAConfidentMistakeIsInfiniteNotClamped) {
  auto lp = torch::tensor({0.0, -kInf}, torch::kDouble).view({1, 2});
  auto two = torch::cat({lp, lp});
  EXPECT_EQ(metric("nll", two, {1, 1}), kInf);
}

TEST(Metrics, BrierSumsSquaredErrorsOverClasses) {
  // 0.04+0.04, 0.36+0.36, 0, 0.25+0.25 over 4 examples.
  EXPECT_NEAR(metric("brier", four_examples(), kLabels), 1.3 / 4, 1e-12);
}

TEST(Metrics, EceMergesExamplesInABin) {
  // Two bins: (0, .5] holds 0.5 (wrong); (.5, 1] holds 0.8 (right), 0.6
  // (wrong), 1.0 (right): |2/3 - 0.8| * 3.
  EXPECT_NEAR(metric("ece", four_examples(), kLabels, 2),
              (0.5 + std::abs(2.0 - 2.4)) / 4, 1e-12);
}

TEST(Metrics, EceUpperBinEdgeIsInclusive) {
  ASSERT_EQ(std::exp(std::log(0.5)), 0.5);
  ASSERT_EQ(std::exp(std::log(0.75)), 0.75);
  auto lp =
      torch::tensor({0.5, 0.5, 0.75, 0.25}, torch::kDouble).view({2, 2}).log();
  // 0.5 belongs to (0, 0.5]: |1 - 0.5|; 0.75 alone in (0.5, 1]: |0 - 0.75|.
  // Had 0.5 gone up, the result would be |0.5 - 0.625| * 2 / 2 = 0.125.
  EXPECT_NEAR(metric("ece", lp, {0, 1}, 2), (0.5 + 0.75) / 2, 1e-12);
}

TEST(Metrics, EceConfidenceZeroGoesToTheFirstBinAndOneToTheLast) {
  // A: confidence 1, right. B: all probabilities 0 (confidence 0), and its
  // argmax (class 0) is right: |1 - 0| in bin 0. The 13 bins between are
  // empty and add nothing.
  auto lp =
      torch::tensor({0.0, -kInf, -kInf, -kInf}, torch::kDouble).view({2, 2});
  EXPECT_DOUBLE_EQ(metric("ece", lp, {0, 0}, 15), 0.5);
  EXPECT_DOUBLE_EQ(metric("ece", lp, {0, 1}, 15), 0.0);
}

TEST(Metrics, EmptyInputIsNaNNotZero) {
  auto& registry = test::bundled_registry();
  for (const char* name : {"accuracy", "ece", "nll", "brier"}) {
    auto m = registry.make<Metric>(
        name, default_params(registry, Kind::metric, name));
    m->reset();
    EXPECT_TRUE(std::isnan(m->value())) << name;
  }
}

}  // namespace
}  // namespace cigl
