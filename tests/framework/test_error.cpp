// The error types (error.cpp) and the interfaces' defaults defined there:
// what cigl-run's exit codes rely on, and what a plugin gets by default.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/dataset.hpp"
#include "cigl/error.hpp"
#include "cigl/metric.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

TEST(Errors, EachKindIsCaughtAsWhatTheCommandLineMapsToAnExitCode) {
  // cigl-run: a ConfigError (and so a PluginError) is exit 2, any other
  // Error exit 1.
  try {
    throw PluginError("lib.so: plugin API version 1");
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "lib.so: plugin API version 1");
  }
  try {
    throw DataError("train-images: truncated");
  } catch (const ConfigError&) {
    FAIL() << "a data error is not a config error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "train-images: truncated");
  }
}

TEST(Errors, ThrownInsideAPluginAreCaughtByTypeInTheHost) {
  // The typeinfo lives once, in libcigl: a ConfigError a plugin's factory
  // throws is a ConfigError here, with the config line it names.
  auto& registry = test::bundled_registry();
  Params params = default_params(registry, Kind::dataset, "synthetic");
  params.set("input_shape", std::vector<std::int64_t>{}, "exp.toml:2:15");
  try {
    registry.make<Dataset>("synthetic", params);
    FAIL() << "an empty input shape was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "exp.toml:2:15: dataset.input_shape: must name at least one "
              "size");
  }
}

class Constant : public Metric {
 public:
  void reset() override {}
  void update(const torch::Tensor&, const torch::Tensor&) override {}
  double value() const override { return 1; }
};

class Plain : public Dataset {
 public:
  DatasetInfo info() const override { return {}; }
  DataBundle load() override { return {}; }
};

TEST(InterfaceDefaults, MetricsHaveAValueAndDatasetsDoNotAugment) {
  Constant metric;
  EXPECT_TRUE(metric.scalar());
  EXPECT_TRUE(metric.series().empty());
  Plain dataset;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  auto x = torch::arange(6.0).view({1, 6});
  EXPECT_TRUE(dataset.augment(x, generator).equal(x));
}

}  // namespace
}  // namespace cigl
