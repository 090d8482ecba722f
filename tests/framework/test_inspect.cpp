// --inspect (inspect.cpp): the per-layer counts of a sparse model worked
// out by hand, as text and as JSON read back with nlohmann-json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cigl/core/run.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

TEST(Inspect, CountsEveryLayerOfAStaticSparseMlp) {
  auto config = ConfigDocument::from_string(R"(
[model]
plugin = "mlp"
hidden = [64]
[method]
plugin = "static"
density = 0.1
distribution = "uniform"
)",
                                            "i.toml")
                    .resolve(test::bundled_registry());
  const auto report = inspect(config, test::bundled_registry());
  // 784x64 and 64x10 weights, at 0.1: size - floor(0.9 size) ones each
  // (5018 and 64); the 74 biases stay dense.
  ASSERT_EQ(report.rows.size(), 4u);
  EXPECT_EQ(report.maskable, 784 * 64 + 64 * 10);
  EXPECT_EQ(report.maskable_nonzeros, 5018 + 64);
  EXPECT_EQ(report.parameters, 784 * 64 + 64 * 10 + 74);
  EXPECT_EQ(report.nonzeros, 5018 + 64 + 74);
  EXPECT_DOUBLE_EQ(report.density(), 5082.0 / 50816);

  const auto j = nlohmann::json::parse(inspect_json(report));
  EXPECT_EQ(j["model"], "mlp");
  EXPECT_EQ(j["method"], "static");
  ASSERT_EQ(j["layers"].size(), 4u);
  EXPECT_EQ(j["layers"][0]["name"], "fc1.weight");
  EXPECT_EQ(j["layers"][0]["shape"], (std::vector<std::int64_t>{64, 784}));
  EXPECT_EQ(j["layers"][0]["nonzeros"].get<std::int64_t>(), 5018);
  EXPECT_TRUE(j["layers"][0]["maskable"].get<bool>());
  EXPECT_FALSE(j["layers"][1]["maskable"].get<bool>());
  EXPECT_EQ(j["maskable_nonzeros"].get<std::int64_t>(), 5082);
  EXPECT_EQ(j["density"].get<double>(), report.density());
  // Plain FLOPs of one example: 2 per non-zero weight plus a bias add.
  EXPECT_EQ(j["costs"]["inference_flops"].get<double>(), 2.0 * 5082 + 64 + 10);
  EXPECT_EQ(j["costs"]["layers"].size(), 2u);

  const std::string text = inspect_text(report);
  EXPECT_NE(text.find("model mlp, method static"), std::string::npos);
  EXPECT_NE(text.find("fc1.weight"), std::string::npos);
  EXPECT_NE(text.find("64x784"), std::string::npos);
  EXPECT_NE(text.find("0.1000"), std::string::npos) << text;
  EXPECT_NE(text.find("(dense)"), std::string::npos) << "biases are dense";
}

}  // namespace
}  // namespace cigl
