// checkpoint.pt: the trainer's state at any step boundary plus the epoch
// records and the build that wrote them; resuming from a checkpoint taken
// inside an epoch continues the run exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cigl/core/checkpoint.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

const char* const kConfig = R"(
[experiment]
threads = 1
[training]
epochs = 2
batch_size = 32
[data]
plugin = "synthetic"
input_shape = [1, 8, 8]
num_classes = 4
train_size = 320
test_size = 64
[model]
plugin = "mlp"
hidden = [16]
[method]
plugin = "rigl"
density = 0.3
update_interval = 3
)";

ExperimentConfig config() {
  return ConfigDocument::from_string(kConfig, "checkpoint.toml")
      .resolve(test::bundled_registry());
}

std::vector<torch::Tensor> weights(Trainer& t) {
  std::vector<torch::Tensor> out;
  for (const auto& p : t.model()->parameters()) out.push_back(p.clone());
  return out;
}

TEST(Checkpoint, DifferencesNameWhatChangedBetweenBuilds) {
  BuildInfo saved{
      "0.1.0", "1.13.1", "gcc-12", {{"cigl", "1.0.0"}, {"mnist", "1.0.0"}}};
  BuildInfo now = saved;
  EXPECT_EQ(build_differences(saved, now), "");
  now.libtorch_version = "2.5.1";
  now.plugins["cigl"] = "1.1.0";
  now.plugins.erase("mnist");
  now.plugins["cifar10"] = "1.0.0";
  EXPECT_EQ(build_differences(saved, now),
            "LibTorch 1.13.1 -> 2.5.1, plugin cifar10 ? -> 1.0.0, plugin cigl "
            "1.0.0 -> 1.1.0, plugin mnist 1.0.0 -> ?");
}

TEST(Checkpoint, TheBuildNamesThePluginsTheConfigUses) {
  const BuildInfo build = current_build(config(), test::bundled_registry());
  EXPECT_EQ(build.libtorch_version, TORCH_VERSION);
  // Dataset, model, method and its nested distribution and drop schedule,
  // the learning-rate schedule and the metrics.
  for (const char* plugin :
       {"synthetic", "mlp", "rigl", "erdos_renyi", "standard_schedules",
        "standard_metrics", "calibration_metrics"}) {
    EXPECT_TRUE(build.plugins.count(plugin)) << plugin;
  }
}

TEST(Checkpoint, ResumingInsideAnEpochContinuesTheRunExactly) {
  test::TempDir dir("checkpoint");
  torch::manual_seed(0);
  Trainer whole(config(), test::bundled_registry());
  whole.fit();
  const auto expected = weights(whole);

  // Stop after 13 steps (epochs have 9), inside the second epoch.
  std::vector<EpochRecord> records;
  {
    Trainer first(config(), test::bundled_registry());
    FitHooks hooks;
    hooks.on_epoch = [&](const EpochRecord& r) { records.push_back(r); };
    hooks.stop = [&] { return first.step() == 13; };
    EXPECT_FALSE(first.fit(hooks));
    EXPECT_EQ(first.epoch(), 1);
    save_checkpoint(dir.file("checkpoint.pt"), first, records,
                    current_build(config(), test::bundled_registry()));
  }
  // Torch's global generator moves on in between, as in a new process.
  torch::rand({100});
  Trainer second(config(), test::bundled_registry());
  const Checkpoint c = load_checkpoint(dir.file("checkpoint.pt"), second);
  EXPECT_EQ(c.epoch, 1);
  EXPECT_EQ(c.step, 13);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].train_loss, records[0].train_loss);
  EXPECT_EQ(second.step(), 13);
  EXPECT_TRUE(second.fit(FitHooks{}));
  EXPECT_EQ(second.step(), whole.step());
  const auto got = weights(second);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(torch::equal(got[i], expected[i])) << "parameter " << i;
  }
  EXPECT_TRUE(torch::equal(second.method().mask_set()->mask(0),
                           whole.method().mask_set()->mask(0)));
}

TEST(Checkpoint, RecordsKeepEveryNumberAndMetricsWithoutAValue) {
  test::TempDir dir("checkpoint");
  Trainer trainer(config(), test::bundled_registry());
  EpochRecord r;
  r.epoch = 1;
  r.step = 9;
  r.lr = 0.1 / 3;
  r.train_loss = 1.0 / 7;
  r.validation = {{"accuracy", 0.123456789012345678},
                  {"top5", std::numeric_limits<double>::quiet_NaN()}};
  r.density = 0.3;
  r.seconds = 12.5;
  save_checkpoint(dir.file("c.pt"), trainer, {r}, BuildInfo{});
  const Checkpoint c = read_checkpoint(dir.file("c.pt"));
  ASSERT_EQ(c.records.size(), 1u);
  const EpochRecord& back = c.records[0];
  EXPECT_EQ(back.lr, r.lr);  // bit for bit
  EXPECT_EQ(back.train_loss, r.train_loss);
  EXPECT_EQ(back.validation[0], r.validation[0]);
  EXPECT_EQ(back.validation[1].first, "top5");
  EXPECT_TRUE(std::isnan(back.validation[1].second));
  EXPECT_EQ(back.seconds, 12.5);
}

TEST(Checkpoint, ATruncatedFileIsOneErrorNamingIt) {
  test::TempDir dir("checkpoint");
  Trainer trainer(config(), test::bundled_registry());
  save_checkpoint(dir.file("c.pt"), trainer, {}, BuildInfo{});
  const std::string bytes = test::read_file(dir.file("c.pt"));
  test::write_file(dir.file("c.pt"), bytes.substr(0, bytes.size() / 2));
  try {
    read_checkpoint(dir.file("c.pt"));
    FAIL();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot read checkpoint " + dir.file("c.pt")),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace cigl
