// Every shipped config resolves against the bundled plugins, so none rots
// as parameters change. The paper recipes wait for the CIFAR dataset and
// model plugins: everything else in them must already be valid.
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
       {"configs", "configs/fashion_mnist", "configs/calibration"}) {
    for (const auto& file : configs_in(folder)) {
      EXPECT_NO_THROW(
          ConfigDocument::from_file(file).resolve(test::bundled_registry()))
          << file;
      ++count;
    }
  }
  EXPECT_GE(count, 20u);
}

TEST(ShippedConfigs, FashionMnistMethodConfigsAreAt90PercentSparsity) {
  for (const auto& file : configs_in("configs/fashion_mnist")) {
    auto c = ConfigDocument::from_file(file).resolve(test::bundled_registry());
    if (c.method.plugin == "dense") continue;
    EXPECT_DOUBLE_EQ(c.method.params.number("density"), 0.1) << file;
  }
}

TEST(ShippedConfigs, PaperRecipesOnlyLackTheCifarPlugins) {
  const auto files = configs_in("configs/paper");
  EXPECT_EQ(files.size(), 6u);
  for (const auto& file : files) {
    try {
      ConfigDocument::from_file(file).resolve(test::bundled_registry());
    } catch (const ConfigError& e) {
      std::stringstream lines(e.what());
      for (std::string line; std::getline(lines, line);) {
        const bool cifar_plugin =
            line.find("unknown dataset 'cifar") != std::string::npos ||
            line.find("unknown model 'cifar_resnet'") != std::string::npos;
        EXPECT_TRUE(cifar_plugin) << file << ": " << line;
      }
    }
  }
}

}  // namespace
}  // namespace cigl
