// The paired comparison of cigl-report (cigl/core/paired.hpp) on run
// folders written by hand, against the t quantiles of a table and the
// interval worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cigl/core/paired.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

TEST(StudentT, QuantilesMatchTheTable) {
  // Two-sided 95% critical values, as printed in any t table.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302652730, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445105, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042272456, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.95, 10), 1.812461123, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.5, 7), 0.0, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.776445105, 1e-7);
}

void write_run(const std::filesystem::path& dir, const std::string& method,
               bool averaged, double density, int seed, double ece) {
  std::filesystem::create_directories(dir);
  test::write_file(
      (dir / "config.toml").string(),
      "[experiment]\nseed = " + std::to_string(seed) +
          "\n[averaging]\nenabled = " + (averaged ? "true" : "false") +
          "\n[method]\nplugin = \"" + method +
          "\"\ndensity = " + std::to_string(density) + "\n");
  test::write_file((dir / "metrics.json").string(),
                   "{\"test\": {\"ece\": " + std::to_string(ece) +
                       ", \"accuracy\": 0.9}}\n");
}

// Three seeds at density 0.1: A - B = -0.01, -0.02, -0.03. Mean -0.02,
// sd 0.01, half-width t(0.975, 2) * 0.01 / sqrt(3) = 0.0248414.
TEST(Paired, MeanDifferenceAndItsTInterval) {
  test::TempDir dir("paired");
  const double b_ece[] = {0.05, 0.06, 0.07};
  for (int seed = 0; seed < 3; ++seed) {
    write_run(dir.path() / ("a" + std::to_string(seed)), "cigl", true, 0.1,
              seed, b_ece[seed] - 0.01 * (seed + 1));
    write_run(dir.path() / ("b" + std::to_string(seed)), "rigl", false, 0.1,
              seed, b_ece[seed]);
  }
  // A run of another group, and one of A without a partner.
  write_run(dir.path() / "other", "rigl", true, 0.1, 0, 0.5);
  write_run(dir.path() / "lonely", "cigl", true, 0.1, 9, 0.5);
  auto c = compare_paired(
      {dir.path().string()},
      parse_selection("method.plugin=cigl,averaging.enabled=true"),
      parse_selection("method.plugin=rigl,averaging.enabled=false"), {"ece"});
  ASSERT_EQ(c.rows.size(), 1u);
  const auto& r = c.rows[0];
  EXPECT_DOUBLE_EQ(r.density, 0.1);
  EXPECT_EQ(r.pairs, 3u);
  EXPECT_NEAR(r.mean_difference, -0.02, 1e-12);
  EXPECT_NEAR(r.sd_difference, 0.01, 1e-12);
  EXPECT_NEAR(r.ci_low, -0.02 - 0.0248414, 1e-6);
  EXPECT_NEAR(r.ci_high, -0.02 + 0.0248414, 1e-6);
  EXPECT_EQ(r.a_lower, 3u);
  EXPECT_NEAR(r.mean_b, 0.06, 1e-12);
  ASSERT_EQ(c.unpaired.size(), 1u);
  EXPECT_NE(c.unpaired[0].find("lonely"), std::string::npos);
  const auto md = paired_markdown(c);
  EXPECT_NE(md.find("| 90% | ece | 3 | 0.0400 | 0.0600 | -0.0200 | 0.0100 | "
                    "[-0.0448, +0.0048] | 3/3 |"),
            std::string::npos)
      << md;
}

TEST(Paired, SelectionsMustBeKeyValueLists) {
  EXPECT_THROW(parse_selection("method.plugin"), ConfigError);
  EXPECT_THROW(parse_selection("=cigl"), ConfigError);
  EXPECT_EQ(parse_selection("a=1,b=x").conditions.size(), 2u);
}

}  // namespace
}  // namespace cigl
