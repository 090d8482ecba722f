// The CIFAR-10 configs train end to end with their real models and method
// when the synthetic dataset stands in for CIFAR-10 (same shape, a few
// examples), and say where the data goes when it is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
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

class CifarConfig : public ::testing::TestWithParam<const char*> {};

TEST_P(CifarConfig, TrainsOnSyntheticCifarShapedData) {
  auto doc = cifar_config(GetParam());
  for (const char* o :
       {"data.plugin=\"synthetic\"", "data.train_size=64", "data.test_size=32",
        "training.epochs=1", "training.batch_size=32",
        "training.eval_batch_size=32", "training.validation_fraction=0.0",
        "experiment.threads=2"}) {
    doc.apply_override(o);
  }
  auto config = doc.resolve(test::bundled_registry());
  test::TempDir dir(std::string("cifar-") + GetParam());
  std::ostringstream log;
  RunOptions options;
  options.run_dir = dir.file("run");
  options.log = &log;
  auto summary = run_experiment(config, test::bundled_registry(), options);
  EXPECT_EQ(summary.steps, 2);
  // RigL at 90% sparsity with ERK keeps its density through training.
  EXPECT_NEAR(summary.density, 0.1, 0.002);
  for (const auto& [name, value] : summary.test) {
    if (name == "accuracy" || name == "nll") {
      EXPECT_TRUE(std::isfinite(value)) << name;
    }
  }
  const auto metrics = test::read_file(dir.file("run/metrics.json"));
  EXPECT_NE(metrics.find("\"model\": \"" + config.model.plugin + "\""),
            std::string::npos);
  EXPECT_NE(metrics.find("\"inference_flops_ratio\": 0."), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Configs, CifarConfig,
                         ::testing::Values("cifar_resnet50_rigl",
                                           "wide_resnet22_2_rigl",
                                           "vgg19_rigl"));

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
