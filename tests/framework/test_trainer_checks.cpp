// What the trainer checks before and while it trains: settings that can be
// checked before the first step are, a non-finite loss stops the run within
// a few steps naming the step, a loss growing by orders of magnitude is
// flagged, threads stay within the machine's cores. Synthetic data: fast.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "cigl/core/run.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

ExperimentConfig config(const std::string& text) {
  return ConfigDocument::from_string(text, "exp.toml")
      .resolve(test::bundled_registry());
}

const std::string kSmall = R"(
[data]
plugin = "synthetic"
input_shape = [16]
train_size = 512
test_size = 64
[model]
plugin = "mlp"
hidden = [32]
[training]
epochs = 1
batch_size = 16
)";

int cores() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

TEST(TrainerChecks, NonFiniteLossStopsWithinTenStepsNamingTheStep) {
  Trainer trainer(config(kSmall + "[optimizer]\nlr = 1e30\n"),
                  test::bundled_registry());
  ASSERT_GT(trainer.total_steps(), 20);  // the epoch is far from its end
  try {
    trainer.train_epoch();
    FAIL() << "trained through";
  } catch (const Error& e) {
    std::smatch m;
    const std::string what = e.what();
    ASSERT_TRUE(std::regex_match(
        what, m,
        std::regex("training diverged in epoch 1 at step ([0-9]+) \\(batch "
                   "[0-9]+ of 29\\): the loss is (NaN|infinite); lower "
                   "optimizer.lr \\(now 1e\\+30\\)")))
        << what;
    EXPECT_LE(std::stoi(m[1]), trainer.step());
  }
  EXPECT_LE(trainer.step(), 10);  // checked every 10 steps, not per epoch
}

// lr 100 with momentum 0.999 on a BatchNorm network: a loss of 1e16 that
// stays finite, and the run used to end "successfully" at chance accuracy.
TEST(TrainerChecks, LossGrowingByOrdersOfMagnitudeIsFlaggedOnce) {
  Trainer trainer(config(R"(
[data]
plugin = "synthetic"
input_shape = [3, 8, 8]
train_size = 512
test_size = 64
[model]
plugin = "wide_resnet"
depth = 10
width = 1
[training]
epochs = 1
batch_size = 32
[optimizer]
lr = 100
momentum = 0.999
)"),
                  test::bundled_registry());
  trainer.train_epoch();
  ASSERT_EQ(trainer.warnings().size(), 1u);
  EXPECT_TRUE(std::regex_match(
      trainer.warnings()[0],
      std::regex("mean training loss [0-9.e+]+ over steps 1-10 is [0-9.e+]+ "
                 "times the first step's \\([0-9.]+\\): training is "
                 "diverging; lower optimizer.lr \\(now 100\\) or "
                 "optimizer.momentum")))
      << trainer.warnings()[0];
}

TEST(TrainerChecks, AHealthyRunHasNoWarnings) {
  Trainer trainer(config(kSmall + "[experiment]\nthreads = 1\n"),
                  test::bundled_registry());
  trainer.fit();
  EXPECT_TRUE(trainer.warnings().empty());
}

TEST(TrainerChecks, ThreadsAreBoundedByTheMachinesCores) {
  unsetenv("OMP_NUM_THREADS");  // else it is what 0 means
  std::string warning;
  EXPECT_EQ(cpu_threads(1, &warning), 1);
  EXPECT_EQ(cpu_threads(0, &warning), cores());
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(cpu_threads(4096, &warning), cores());
  EXPECT_EQ(warning, "experiment.threads = 4096, but this machine has " +
                         std::to_string(cores()) + " cores; using " +
                         std::to_string(cores()));
  Trainer trainer(config(kSmall + "[experiment]\nthreads = 4096\n"),
                  test::bundled_registry());
  EXPECT_EQ(torch::get_num_threads(), cores());
  ASSERT_EQ(trainer.warnings().size(), 1u);
  EXPECT_EQ(trainer.warnings()[0], warning);
}

TEST(TrainerChecks, ThreadsZeroTakesTheProcesssDefault) {
  // A matrix's `--jobs 2 --threads 1` gives each cell one thread; a config
  // with threads = 0 must take it (it used to take every core, two cells
  // oversubscribing two cores), and all cores again once unset.
  set_default_cpu_threads(1);
  {
    Trainer trainer(config(kSmall), test::bundled_registry());
    EXPECT_EQ(torch::get_num_threads(), 1);
  }
  set_default_cpu_threads(0);
  std::string warning;
  EXPECT_EQ(cpu_threads(0, &warning), cores());
  Trainer trainer(config(kSmall), test::bundled_registry());
  EXPECT_EQ(torch::get_num_threads(), cores());
}

// 5% of 12 examples is no validation example at all: found when the data
// is split, before the first step (it used to fail after training).
TEST(TrainerChecks, TemperatureScalingWithAnEmptyValidationSplitStopsFirst) {
  try {
    Trainer trainer(config(R"(
[data]
plugin = "synthetic"
input_shape = [16]
train_size = 12
[experiment]
temperature_scaling = true
[training]
validation_fraction = 0.05
)"),
                    test::bundled_registry());
    FAIL() << "built";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "experiment.temperature_scaling fits on the validation "
                 "split, but training.validation_fraction = 0.05 of 12 "
                 "training examples holds none");
  }
}

// SNIP scores weights on training batches; --inspect reads no data unless
// a method asks for it, and used to fail with "Expected a proper Tensor
// but got None".
TEST(TrainerChecks, InspectOfSnipLoadsTheDataItScoresOn) {
  auto report = inspect(config(kSmall + R"(
[method]
plugin = "snip"
density = 0.2
)"),
                        test::bundled_registry(), FlopsConvention::plain);
  EXPECT_NEAR(report.density(), 0.2, 0.01);
  ASSERT_EQ(report.rows.size(), 4u);  // fc1 weight and bias, fc2 ...
  // Chosen by score, not uniformly: the layers' densities differ.
  const auto& first = report.rows[0];
  const auto& last = report.rows[2];
  EXPECT_NE(static_cast<double>(first.nonzeros) / first.parameters,
            static_cast<double>(last.nonzeros) / last.parameters);
}

}  // namespace
}  // namespace cigl
