// Learning-rate schedules against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "cigl/core/config.hpp"
#include "cigl/schedule.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::shared_ptr<Schedule> make(
    const std::string& name,
    const std::vector<std::pair<std::string, Value>>& settings,
    ScheduleContext context) {
  auto& registry = test::bundled_registry();
  Params params = default_params(registry, Kind::schedule, name);
  for (const auto& [k, v] : settings) params.set(k, v, "test");
  return registry.make<Schedule>(name, params, context);
}

TEST(Schedules, ConstantWithWarmupRampsLinearly) {
  auto s = make("constant", {{"unit", std::string("steps")}, {"warmup", 4.0}},
                {0.2, 100, 10});
  EXPECT_DOUBLE_EQ(s->value(0), 0.05);
  EXPECT_DOUBLE_EQ(s->value(3), 0.2);
  EXPECT_DOUBLE_EQ(s->value(50), 0.2);
}

TEST(Schedules, CosineHalvesAtMidpointAndReachesItsFloor) {
  auto s = make("cosine", {{"unit", std::string("steps")}}, {1.0, 10, 5});
  EXPECT_DOUBLE_EQ(s->value(0), 1.0);
  EXPECT_NEAR(s->value(5), 0.5, 1e-12);
  EXPECT_NEAR(s->value(10), 0.0, 1e-12);
  s = make("cosine", {{"min_factor", 0.1}}, {2.0, 10, 5});
  EXPECT_NEAR(s->value(10), 0.2, 1e-12);
  EXPECT_NEAR(s->value(5), 2.0 * (0.1 + 0.9 * 0.5), 1e-12);
}

TEST(Schedules, StepDecayMultipliesEveryIntervalAfterWarmup) {
  auto s = make("step_decay",
                {{"unit", std::string("steps")},
                 {"warmup", 2.0},
                 {"every", 3.0},
                 {"factor", 0.5}},
                {1.0, 100, 10});
  EXPECT_DOUBLE_EQ(s->value(0), 0.5);
  EXPECT_DOUBLE_EQ(s->value(1), 1.0);
  EXPECT_DOUBLE_EQ(s->value(4), 1.0);
  EXPECT_DOUBLE_EQ(s->value(5), 0.5);
  EXPECT_DOUBLE_EQ(s->value(8), 0.25);
}

TEST(Schedules, DurationsInEpochsUseStepsPerEpoch) {
  // every = 1.5 epochs of 10 steps = 15 steps.
  auto s =
      make("step_decay", {{"every", 1.5}, {"factor", 0.1}}, {1.0, 100, 10});
  EXPECT_DOUBLE_EQ(s->value(14), 1.0);
  EXPECT_NEAR(s->value(15), 0.1, 1e-15);
}

TEST(Schedules, MultiStepDecaysAtEachMilestone) {
  auto s = make("multistep",
                {{"unit", std::string("steps")},
                 {"milestones", std::vector<double>{4, 2}},
                 {"factor", 0.1}},
                {1.0, 10, 1});
  EXPECT_DOUBLE_EQ(s->value(1), 1.0);
  EXPECT_NEAR(s->value(2), 0.1, 1e-15);
  EXPECT_NEAR(s->value(4), 0.01, 1e-15);
}

TEST(Schedules, LinearEndsAtItsEndFactor) {
  auto s = make("linear", {{"end_factor", 0.2}}, {0.3, 10, 5});
  EXPECT_DOUBLE_EQ(s->value(0), 0.3);
  EXPECT_NEAR(s->value(5), 0.3 * 0.6, 1e-12);
  EXPECT_NEAR(s->value(10), 0.06, 1e-12);
}

}  // namespace
}  // namespace cigl
