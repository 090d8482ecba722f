// Training end to end on a subset of the real Fashion-MNIST (Debian's
// dataset-fashion-mnist): seeded reproducibility at a fixed thread count,
// resuming from saved state, non-finite logits, and static masks holding
// through training. The run folder's files: test_run.cpp.
#include <gtest/gtest.h>

#include <limits>

#include "cigl/core/trainer.hpp"
#include "cigl/masking.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

const char* const kSubset = R"(
[experiment]
name = "e2e"
threads = 2
[training]
epochs = 2
batch_size = 64
[data]
plugin = "fashion_mnist"
train_limit = 3000
test_limit = 1000
[model]
plugin = "mlp"
hidden = [64]
[optimizer]
lr = 0.05
[schedule]
plugin = "cosine"
)";

ExperimentConfig config(const std::vector<std::string>& overrides = {}) {
  auto doc = ConfigDocument::from_string(kSubset, "e2e.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

TEST(EndToEnd, SameSeedGivesBitIdenticalMetricsOnCpu) {
  auto run = [](const std::vector<std::string>& overrides) {
    Trainer trainer(config(overrides), test::bundled_registry());
    trainer.fit();
    return trainer.test();
  };
  auto a = run({"experiment.device=cpu"});
  auto b = run({"experiment.device=cpu"});
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].second, b[i].second) << a[i].first;  // exact, not near
  }
  auto c = run({"experiment.device=cpu", "experiment.seed=1"});
  EXPECT_NE(a[2].second, c[2].second) << "the seed changes nothing";
}

TEST(EndToEnd, ResumingFromSavedStateMatchesAnUninterruptedRun) {
  test::TempDir dir("resume");
  const std::vector<std::string> overrides = {
      "experiment.device=cpu", "method.plugin=static", "method.density=0.2"};
  Trainer straight(config(overrides), test::bundled_registry());
  straight.fit();
  auto expected = straight.test();

  {
    Trainer first(config(overrides), test::bundled_registry());
    first.train_epoch();
    first.save_state(dir.file("state.pt"));
  }
  Trainer resumed(config(overrides), test::bundled_registry());
  resumed.load_state(dir.file("state.pt"));
  EXPECT_EQ(resumed.epoch(), 1);
  resumed.train_epoch();
  auto got = resumed.test();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i].second, expected[i].second) << got[i].first;
  }
}

TEST(EndToEnd, NonFiniteLogitsAreAnErrorNamingTheBatch) {
  Trainer trainer(config({"experiment.device=cpu", "training.epochs=1",
                          "training.eval_batch_size=400"}),
                  test::bundled_registry());
  trainer.fit();
  {
    torch::NoGradGuard no_grad;
    // One infinite bias: every logit of that class is inf, and softmax
    // turns the batch into NaN; no metric may report a number for it.
    trainer.model()->parameters().back()[3] =
        std::numeric_limits<float>::infinity();
  }
  try {
    trainer.test();
    FAIL() << "metrics were computed from non-finite logits";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("in test batch 0 (examples 0..399)"),
              std::string::npos)
        << e.what();
  }
}

TEST(StaticMethod, MaskKeepsExactDensityAndZerosThroughTraining) {
  auto c = config({"method.plugin=static", "method.density=0.1",
                   "model.hidden=[300, 100]", "optimizer.weight_decay=0.01"});
  Trainer trainer(c, test::bundled_registry());
  auto model = trainer.model();

  // ERK for 784x300, 300x100, 100x10 worked out by hand: density_i =
  // eps * (n_in + n_out) / (n_in n_out). With all three, eps = 26620 /
  // 1594 = 16.7 and the classifier would get 16.7 * 110 / 1000 > 1, so it
  // goes dense; then eps = (0.1 * 265200 - 0.9 * 1000) / (1084 + 400) =
  // 25620 / 1484. Ones are size - floor(sparsity * size), as in RigL.
  const double total = 784 * 300 + 300 * 100 + 100 * 10;
  const double eps = 25620.0 / 1484.0;
  const std::vector<std::int64_t> expected_ones = {
      18715,  // 235200 - floor(235200 - 18714.34)
      6906,   // 30000 - floor(30000 - 6905.66)
      1000};  // dense
  ASSERT_NEAR(eps * 1084, 18714.34, 0.01);
  ASSERT_NEAR(eps * 400, 6905.66, 0.01);

  auto params = maskable_parameters(*model);
  ASSERT_EQ(params.size(), 3u);
  std::vector<torch::Tensor> initial;
  for (std::size_t i = 0; i < 3; ++i) {
    initial.push_back(params[i].weight.ne(0).clone());
    EXPECT_EQ(initial[i].sum().item<std::int64_t>(), expected_ones[i])
        << params[i].name;
  }
  trainer.fit();
  std::int64_t ones = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    auto active = params[i].weight.ne(0);
    // Every inactive weight is still exactly zero, despite momentum and
    // weight decay, and the active ones moved.
    EXPECT_FALSE(
        active.logical_and(initial[i].logical_not()).any().item<bool>())
        << params[i].name;
    EXPECT_EQ(active.sum().item<std::int64_t>(), expected_ones[i]);
    ones += expected_ones[i];
  }
  EXPECT_NEAR(trainer.density(), static_cast<double>(ones) / total, 1e-12);
  // Within one weight per layer of the target.
  EXPECT_LE(std::abs(trainer.density() * total - 0.1 * total), 3.0);
}

}  // namespace
}  // namespace cigl
