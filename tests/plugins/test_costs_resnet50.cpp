// ResNet-50 on ImageNet's shape, counted with the MicroNet convention,
// against the RigL README's table (docs/costs.md says which rows cannot
// match and why): dense FLOPs and size, and for each row the inference
// FLOPs ratio to two decimals and the size to three, as the README prints
// them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "cigl/core/config.hpp"
#include "cigl/core/run.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

CostReport costs_of(const std::vector<std::string>& overrides) {
  auto doc = ConfigDocument::from_file(std::string(CIGL_TEST_SOURCE_DIR) +
                                       "/configs/imagenet/resnet50_rigl.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  auto config = doc.resolve(test::bundled_registry());
  return inspect(config, test::bundled_registry(), FlopsConvention::micronet)
      .costs;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct Row {
  const char* name;
  std::vector<std::string> overrides;
  const char* flops_ratio;  // as the README prints it
  const char* size_mb;      // ditto, "" where it cannot match
};

TEST(CostsResNet50, DenseFiguresAreThePapers) {
  auto r = costs_of({});
  EXPECT_EQ(fixed(r.dense_flops / 1e9, 1), "8.2");
  EXPECT_EQ(fixed(r.dense_bytes / 1e6, 3), "102.122");
  // 100 epochs (31,300 steps of 4096 images) at 3 f_D: the README's
  // 3.2e18, which counts 32,000 steps.
  EXPECT_EQ(fixed(r.dense_training_flops_per_step *
                      static_cast<double>(r.total_steps) / 1e18,
                  1),
            "3.2");
}

TEST(CostsResNet50, EveryRowOfTheRigLReadmeTable) {
  const std::string uniform = "method.distribution.plugin=\"uniform\"";
  const std::string first_dense = "method.distribution.dense_first_layer=true";
  const std::vector<Row> rows = {
      {"ERK 0.8", {"method.density=0.2"}, "0.42", "23.684"},  // README 23.683
      {"uniform 0.8",
       {"method.density=0.2", uniform, first_dense},
       "0.23",
       "23.729"},  // README 23.685
      {"ERK 0.9", {"method.density=0.1"}, "0.24", "13.499"},
      {"uniform 0.9",
       {"method.density=0.1", uniform, first_dense},
       "0.13",
       "13.532"},
      {"ERK 0.95", {"method.density=0.05"}, "0.12", "8.399"},
      {"uniform 0.95",
       {"method.density=0.05", uniform, first_dense},
       "0.08",
       "8.433"},
      {"ERK 0.965", {"method.density=0.035"}, "0.09", "6.869"},  // 6.904
      {"uniform 0.965",
       {"method.density=0.035", uniform, first_dense},
       "0.07",
       "6.904"},
      {"ERK 0.99, first layer dense",
       {"method.density=0.01",
        "method.distribution.overrides={ \"conv1.weight\" = 1.0 }",
        "method.distribution.fixed_in_budget=false"},
       "0.05",
       "4.354"},
  };
  for (const auto& row : rows) {
    auto r = costs_of(row.overrides);
    EXPECT_EQ(fixed(r.flops_ratio(), 2), row.flops_ratio) << row.name;
    EXPECT_EQ(fixed(r.bytes / 1e6, 3), row.size_mb) << row.name;
  }
}

}  // namespace
}  // namespace cigl
