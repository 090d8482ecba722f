// Every shipped config resolves against the bundled plugins, so none rots
// as parameters change.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "cigl/core/config.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> configs_in(const std::string& folder) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(
           std::string(CIGL_TEST_SOURCE_DIR) + "/" + folder)) {
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ShippedConfigs, ResolveWithoutErrors) {
  std::size_t count = 0;
  for (const char* folder :
       {"configs", "configs/fashion_mnist", "configs/calibration",
        "configs/paper", "configs/cifar10", "configs/imagenet"}) {
    for (const auto& file : configs_in(folder)) {
      EXPECT_NO_THROW(
          ConfigDocument::from_file(file).resolve(test::bundled_registry()))
          << file;
      ++count;
    }
  }
  EXPECT_GE(count, 30u);
}

TEST(ShippedConfigs, FashionMnistMethodConfigsAreAt90PercentSparsity) {
  for (const auto& file : configs_in("configs/fashion_mnist")) {
    auto c = ConfigDocument::from_file(file).resolve(test::bundled_registry());
    if (c.method.plugin == "dense") continue;
    EXPECT_DOUBLE_EQ(c.method.params.number("density"), 0.1) << file;
  }
}

TEST(ShippedConfigs, PaperRecipesAreCigLsCifarResNet50Runs) {
  const auto files = configs_in("configs/paper");
  EXPECT_EQ(files.size(), 6u);
  for (const auto& file : files) {
    auto c = ConfigDocument::from_file(file).resolve(test::bundled_registry());
    EXPECT_EQ(c.model.plugin, "cifar_resnet") << file;
    EXPECT_EQ(c.model.params.integer("depth"), 50) << file;
    EXPECT_EQ(c.data.plugin.rfind("cifar", 0), 0u) << file;
    EXPECT_EQ(c.training.integer("epochs"), 250) << file;
  }
}

}  // namespace
}  // namespace cigl
