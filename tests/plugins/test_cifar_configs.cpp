// The CIFAR-10 configs train end to end with their real models and method
// when the synthetic dataset stands in for CIFAR-10 (16 small images): the
// loss falls and the density holds. And they say where the data goes when
// it is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cigl/core/config.hpp"
#include "cigl/core/run.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

ConfigDocument cifar_config(const std::string& name) {
  return ConfigDocument::from_file(std::string(CIGL_TEST_SOURCE_DIR) +
                                   "/configs/cifar10/" + name + ".toml");
}

struct Case {
  const char* config;
  int side;  ///< input height and width: the smallest the model takes
};

class CifarConfig : public ::testing::TestWithParam<Case> {};

// The config as shipped (model, method, distribution), on a stand-in for
// CIFAR-10 small enough for a test: 16 synthetic images of the smallest
// size the model takes, one batch, three steps. Plain SGD (no momentum, no
// warm-up, no augmentation) on one fixed batch must lower the loss at
// every step; RigL updates the mask at step 2 and keeps its density.
TEST_P(CifarConfig, TrainsOnSmallCifarShapedDataLossFallsDensityHolds) {
  auto doc = cifar_config(GetParam().config);
  const std::string side = std::to_string(GetParam().side);
  for (const std::string& o : std::vector<std::string>{
           "data.plugin=\"synthetic\"",
           "data.input_shape=[3, " + side + ", " + side + "]",
           "data.train_size=16", "data.test_size=16", "data.crop_padding=0",
           "data.horizontal_flip=false", "training.epochs=3",
           "training.batch_size=16", "training.eval_batch_size=16",
           "training.validation_fraction=0.0", "training.eval_every=0",
           "method.update_interval=2", "schedule.warmup=0", "optimizer.lr=0.01",
           "optimizer.momentum=0", "experiment.threads=2"}) {
    doc.apply_override(o);
  }
  auto config = doc.resolve(test::bundled_registry());
  test::TempDir dir(std::string("cifar-") + GetParam().config);
  std::ostringstream log;
  RunOptions options;
  options.run_dir = dir.file("run");
  options.log = &log;
  auto summary = run_experiment(config, test::bundled_registry(), options);
  EXPECT_EQ(summary.steps, 3);
  // RigL at 90% sparsity with ERK: the masks hold 10% of the weights after
  // the update (ERK rounds each layer's share up).
  const auto metrics =
      nlohmann::json::parse(test::read_file(dir.file("run/metrics.json")));
  EXPECT_NEAR(metrics["mask_density"].get<double>(), 0.1, 1e-4);
  EXPECT_EQ(metrics["model"], config.model.plugin);
  EXPECT_LT(metrics["costs"]["plain"]["inference_flops_ratio"].get<double>(),
            1.0);
  // The training loss falls from epoch to epoch.
  std::stringstream history(test::read_file(dir.file("run/history.csv")));
  std::vector<double> loss;
  for (std::string line; std::getline(history, line);) {
    if (line.rfind("epoch", 0) == 0) continue;
    std::stringstream fields(line);
    std::string field;
    for (int i = 0; i < 4; ++i) std::getline(fields, field, ',');
    loss.push_back(std::stod(field));
  }
  ASSERT_EQ(loss.size(), 3u) << log.str();
  EXPECT_LT(loss[1], loss[0]) << log.str();
  EXPECT_LT(loss[2], loss[1]) << log.str();
  for (const auto& [name, value] : summary.test) {
    if (name == "accuracy" || name == "nll") {
      EXPECT_TRUE(std::isfinite(value)) << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, CifarConfig,
                         ::testing::Values(Case{"cifar_resnet50_rigl", 5},
                                           Case{"wide_resnet22_2_rigl", 3},
                                           Case{"vgg19_rigl", 17}),
                         [](const auto& info) {
                           return std::string(info.param.config);
                         });

TEST(CifarConfigs, MissingDataSaysWhereToPutIt) {
  auto doc = cifar_config("wide_resnet22_2_rigl");
  doc.apply_override("data.root=\"/nonexistent/cifar\"");
  auto config = doc.resolve(test::bundled_registry());
  try {
    Trainer trainer(config, test::bundled_registry());
    FAIL() << "loaded data that does not exist";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("/nonexistent/cifar"), std::string::npos) << message;
    EXPECT_NE(message.find("cifar-10-binary.tar.gz"), std::string::npos)
        << message;
  }
}

}  // namespace
}  // namespace cigl
