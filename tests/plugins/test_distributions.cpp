// Layer-wise densities against hand-worked values.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include "cigl/core/config.hpp"
#include "cigl/distribution.hpp"

#include "cigl/masking.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::vector<double> densities(
    const std::string& name, const std::vector<LayerShape>& layers,
    double density,
    const std::vector<std::pair<std::string, Value>>& overrides = {}) {
  auto& registry = test::bundled_registry();
  Params params = default_params(registry, Kind::distribution, name);
  for (const auto& [k, v] : overrides) params.set(k, v, "test");
  return registry.make<Distribution>(name, params)->densities(layers, density);
}

const std::vector<LayerShape> kLayers = {
    {"a", {10, 10}},   // raw (10+10)/100 = 0.2
    {"b", {100, 10}},  // raw 110/1000 = 0.11
    {"c", {2, 2}},     // raw 4/4 = 1: overflows, becomes dense
};

TEST(Erk, OverflowingLayerBecomesDenseAndEpsilonIsSolvedAgain) {
  // First pass: eps = 552 / 134, eps * 1.0 > 1, so layer c is dense.
  // Second pass: budget 50 + 500 ones minus c's 2 missing zeros = 548
  // over divisor 0.2*100 + 0.11*1000 = 130.
  auto d = densities("erk", kLayers, 0.5);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_NEAR(d[0], 548.0 / 130 * 0.2, 1e-12);
  EXPECT_NEAR(d[1], 548.0 / 130 * 0.11, 1e-12);
  EXPECT_DOUBLE_EQ(d[2], 1.0);
  // The ones add up to the target exactly.
  EXPECT_NEAR(d[0] * 100 + d[1] * 1000 + d[2] * 4, 0.5 * 1104, 1e-9);
}

TEST(Erk, ConvolutionUsesEveryDimension) {
  // conv 16x6x5x5: raw 32/2400; linear 120x400: raw 520/48000.
  std::vector<LayerShape> layers = {{"conv", {16, 6, 5, 5}},
                                    {"fc", {120, 400}}};
  auto d = densities("erk", layers, 0.1);
  const double eps =
      0.1 * (2400 + 48000) / (32.0 / 2400 * 2400 + 520.0 / 48000 * 48000);
  EXPECT_NEAR(d[0], eps * 32 / 2400, 1e-12);
  EXPECT_NEAR(d[1], eps * 520 / 48000, 1e-12);
}

TEST(Erk, PowerScaleZeroIsUniform) {
  auto d = densities("erk", {{"a", {10, 10}}, {"b", {100, 10}}}, 0.3,
                     {{"erk_power_scale", 0.0}});
  EXPECT_NEAR(d[0], 0.3, 1e-12);
  EXPECT_NEAR(d[1], 0.3, 1e-12);
}

TEST(Erk, LargePowerScaleStillMeetsTheTargetOrSaysWhy) {
  // Relative raw probabilities do not underflow: 200 still gives a valid
  // distribution whose ones add up to the target.
  std::vector<LayerShape> layers = {{"a", {10, 10}}, {"b", {300, 100}}};
  auto d = densities("erk", layers, 0.05, {{"erk_power_scale", 200.0}});
  EXPECT_DOUBLE_EQ(d[0], 1.0);  // overflows: 0.05 * 30100 > 100
  EXPECT_NEAR(d[0] * 100 + d[1] * 30000, 0.05 * 30100, 1e-6);
}

TEST(Er, UsesTheFirstTwoDimensionsOnly) {
  // conv 16x6x5x5: raw (16 + 6) / (16 * 6); linear 120x400: 520 / 48000.
  std::vector<LayerShape> layers = {{"conv", {16, 6, 5, 5}},
                                    {"fc", {120, 400}}};
  auto d = densities("er", layers, 0.1);
  const double r0 = 22.0 / 96, r1 = 520.0 / 48000;
  // Budget in RigL's arithmetic: ones = size - floor(0.9 * size) = 5040;
  // eps = 5040 / (r0 * 2400 + r1 * 48000) = 4.71 makes the conv 1.08
  // dense, so it is dense, and fc gets 5040 - 2400 = 2640 ones.
  ASSERT_GT(5040 / (r0 * 2400 + r1 * 48000) * r0, 1.0);
  EXPECT_DOUBLE_EQ(d[0], 1.0);
  EXPECT_NEAR(d[1], 2640.0 / 48000, 1e-12);
}

TEST(Erk, DenseFirstLayerIsChargedToTheBudget) {
  // Layer a fixed dense costs the others its 50 missing zeros.
  auto d = densities("erk", kLayers, 0.5, {{"dense_first_layer", true}});
  EXPECT_DOUBLE_EQ(d[0], 1.0);
  // Pass 1: rhs = (50 - 100) + 500 + 2 = 452 over divisor 110 + 4 = 114;
  // eps * 1.0 > 1, so c goes dense. Pass 2: rhs = -50 + 500 - 2 = 448 over
  // 110: b gets 448 / 110 * 0.11 = 0.448.
  EXPECT_DOUBLE_EQ(d[2], 1.0);
  EXPECT_NEAR(d[1], 448.0 / 110 * 0.11, 1e-12);
  EXPECT_NEAR(d[0] * 100 + d[1] * 1000 + d[2] * 4, 0.5 * 1104, 1e-9);
}

TEST(Erk, OverridesOutOfTheBudgetAsRigLsCustomMap) {
  auto d = densities(
      "erk", kLayers, 0.5,
      {{"overrides", NumberMap{{"a", 0.25}}}, {"fixed_in_budget", false}});
  EXPECT_DOUBLE_EQ(d[0], 0.25);
  // a is ignored entirely: b and c share 500 + 2 ones, c overflows, then
  // b gets (500 - 2) / 110 * 0.11.
  EXPECT_NEAR(d[1], 498.0 / 110 * 0.11, 1e-12);
}

TEST(Erk, UnknownOverrideLayerIsAConfigError) {
  EXPECT_THROW(densities("erk", kLayers, 0.5,
                         {{"overrides", NumberMap{{"conv9.weight", 1.0}}}}),
               ConfigError);
}

TEST(Uniform, DenseFirstLayerIsNotCompensated) {
  auto d = densities("uniform", kLayers, 0.2, {{"dense_first_layer", true}});
  EXPECT_EQ(d, (std::vector<double>{1.0, 0.2, 0.2}));
  d = densities("uniform", kLayers, 0.2, {{"dense_last_layer", true}});
  EXPECT_EQ(d, (std::vector<double>{0.2, 0.2, 1.0}));
}

}  // namespace
}  // namespace cigl
