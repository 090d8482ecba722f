// The sparse methods through real training on a Fashion-MNIST subset:
// invariants after every step, schedules, resuming, and CigL's random mask
// and averaging checked against their arithmetic.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "cigl/core/trainer.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

const char* const kSubset = R"(
[experiment]
device = "cpu"
threads = 2
[training]
epochs = 2
batch_size = 50
[data]
train_limit = 2000
test_limit = 500
[model]
plugin = "mlp"
hidden = [64]
[optimizer]
lr = 0.05
)";

ExperimentConfig config(const std::vector<std::string>& overrides) {
  auto doc = ConfigDocument::from_string(kSubset, "methods.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

std::vector<std::int64_t> counts(const MaskSet& masks) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < masks.size(); ++i) out.push_back(masks.active(i));
  return out;
}

std::int64_t sum(const std::vector<std::int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::int64_t{0});
}

class DynamicMethod : public ::testing::TestWithParam<std::string> {};

// After every step: inactive weights exactly zero; RigL, SET and CigL keep
// each layer's count of ones, SNFS the total; and the topology did move.
TEST_P(DynamicMethod, InvariantsHoldAfterEveryStep) {
  const std::string method = GetParam();
  Trainer trainer(config({"method.plugin=" + method, "method.density=0.2",
                          "method.update_interval=5", "method.end=1.0"}),
                  test::bundled_registry());
  const MaskSet* masks = trainer.method().mask_set();
  ASSERT_NE(masks, nullptr);
  const auto initial_counts = counts(*masks);
  std::vector<torch::Tensor> initial;
  for (std::size_t i = 0; i < masks->size(); ++i) {
    initial.push_back(masks->mask(i).clone());
  }
  std::int64_t checked = 0;
  trainer.fit({}, [&](std::int64_t, std::int64_t) {
    for (std::size_t i = 0; i < masks->size(); ++i) {
      auto off = masks->weight(i).masked_select(masks->mask(i).logical_not());
      ASSERT_EQ(off.count_nonzero().item<std::int64_t>(), 0)
          << masks->name(i) << " at step " << trainer.step();
    }
    if (method == "snfs") {
      ASSERT_EQ(sum(counts(*masks)), sum(initial_counts));
    } else {
      ASSERT_EQ(counts(*masks), initial_counts);
    }
    ++checked;
  });
  EXPECT_EQ(checked, trainer.step());
  bool moved = false;
  for (std::size_t i = 0; i < masks->size(); ++i) {
    moved |= !torch::equal(masks->mask(i), initial[i]);
  }
  EXPECT_TRUE(moved) << method << " never changed its topology";
}

INSTANTIATE_TEST_SUITE_P(Methods, DynamicMethod,
                         ::testing::Values("set", "snfs", "rigl", "cigl"));

// Saving after one epoch and resuming gives the uninterrupted run's
// metrics to the bit: masks, counters, generators and averages restored.
class AnyMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(AnyMethod, ResumesBitForBit) {
  test::TempDir dir("resume-" + GetParam());
  std::vector<std::string> o = {"method.plugin=" + GetParam()};
  if (GetParam() != "snip") o.push_back("method.update_interval=7");
  Trainer straight(config(o), test::bundled_registry());
  straight.fit();
  auto expected = straight.test();
  {
    Trainer first(config(o), test::bundled_registry());
    first.train_epoch();
    first.save_state(dir.file("state.pt"));
  }
  Trainer resumed(config(o), test::bundled_registry());
  resumed.load_state(dir.file("state.pt"));
  resumed.train_epoch();
  auto got = resumed.test();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i].second)) continue;
    EXPECT_EQ(got[i].second, expected[i].second) << got[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, AnyMethod,
                         ::testing::Values("set", "snfs", "rigl", "cigl",
                                           "snip", "gmp"));

// Steps that need the dense weight gradient run dense kernels: RigL and
// CigL at their topology updates (they grow by it), SNFS always (its
// momentum), the others never.
TEST(NeedsDenseGradient, GradientGrowthAtUpdatesMomentumAlways) {
  const std::vector<std::pair<std::string, std::vector<bool>>> expected = {
      {"rigl", {false, false, false, false, false, true, false}},
      {"cigl", {false, false, false, false, false, true, false}},
      {"snfs", {true, true, true, true, true, true, true}},
      {"set", {false, false, false, false, false, false, false}},
      {"static", {false, false, false, false, false, false, false}},
      {"gmp", {false, false, false, false, false, false, false}},
      {"dense", {false, false, false, false, false, false, false}},
  };
  for (const auto& [method, due] : expected) {
    std::vector<std::string> o = {"method.plugin=" + method};
    if (method != "dense" && method != "static") {
      o.push_back("method.update_interval=5");
    }
    Trainer trainer(config(o), test::bundled_registry());
    TrainContext context;
    for (std::int64_t t = 0; t < 7; ++t) {
      context.step = t;
      EXPECT_EQ(trainer.method().needs_dense_gradient(context), due[t])
          << method << " at step " << t;
    }
  }
}

TEST(Snip, KeepsExactlyTheTargetShareGlobally) {
  Trainer trainer(config({"method.plugin=snip", "method.density=0.05"}),
                  test::bundled_registry());
  const MaskSet* masks = trainer.method().mask_set();
  // 784x64 + 64x10 = 50816 maskable weights; RigL's rounding:
  // 50816 - floor(0.95 * 50816) = 50816 - 48275 = 2541.
  EXPECT_EQ(masks->total(), 50816);
  EXPECT_EQ(masks->active(), 2541);
  trainer.fit();
  EXPECT_EQ(masks->active(), 2541);
  EXPECT_NEAR(trainer.density(), 2541.0 / 50816, 1e-12);
}

// GMP over 4 epochs of 36 steps, pruning every 6 steps from 0 to step 72
// (end = 0.5): at step 36 (progress 0.5) each layer's sparsity is
// 0.9 * (1 - 0.5^3) = 0.7875; from step 72 on it is 0.9.
TEST(Gmp, FollowsTheCubicScheduleToTheTarget) {
  Trainer trainer(config({"method.plugin=gmp", "method.density=0.1",
                          "method.update_interval=6", "method.end=0.5",
                          "training.epochs=4"}),
                  test::bundled_registry());
  const MaskSet* masks = trainer.method().mask_set();
  EXPECT_EQ(masks->active(), masks->total());  // starts dense
  const std::vector<std::int64_t> sizes = {784 * 64, 64 * 10};
  auto expected_at = [&](double sparsity) {
    std::int64_t ones = 0;
    for (auto n : sizes) ones += ones_for_density(n, 1 - sparsity);
    return ones;
  };
  // The pruning at step 36 happens in epoch 2, so after epoch 1 the last
  // pruning was at step 30: progress 30/72.
  trainer.train_epoch();
  EXPECT_EQ(masks->active(),
            expected_at(0.9 * (1 - std::pow(1 - 30.0 / 72, 3))));
  trainer.train_epoch();
  EXPECT_EQ(masks->active(),
            expected_at(0.9 * (1 - std::pow(1 - 66.0 / 72, 3))));
  trainer.train_epoch();
  EXPECT_EQ(masks->active(), expected_at(0.9));
  trainer.train_epoch();
  EXPECT_EQ(masks->active(), expected_at(0.9));
  EXPECT_NEAR(trainer.density(), 0.1, 2.0 / 50816);
}

}  // namespace
}  // namespace cigl
