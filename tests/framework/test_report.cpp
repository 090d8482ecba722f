// cigl-report on hand-made run folders: grouping, means and deviations
// worked out by hand, incomplete runs listed, and the files it writes.
#include <gtest/gtest.h>

#include <regex>

#include "cigl/core/report.hpp"
#include "test_support.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

void make_run(const test::TempDir& dir, const std::string& name,
              const std::string& method, double density, double accuracy,
              double ece, bool finished = true) {
  auto folder = dir.path() / name;
  std::filesystem::create_directories(folder);
  std::string config = "[method]\nplugin = \"" + method + "\"\n";
  if (method != "dense")
    config += "density = " + std::to_string(density) + "\n";
  config += "[model]\nplugin = \"mlp\"\n";
  test::write_file((folder / "config.toml").string(), config);
  if (!finished) return;
  test::write_file(
      (folder / "metrics.json").string(),
      "{\n  \"test\": {\n    \"accuracy\": " + std::to_string(accuracy) +
          ",\n    \"ece\": " + std::to_string(ece) +
          "\n  },\n  \"density\": " + std::to_string(density) + "\n}\n");
}

TEST(Report, GroupsByMethodAndDensityWithMeanAndSampleDeviation) {
  test::TempDir dir("report");
  make_run(dir, "a/rigl_s0", "rigl", 0.1, 0.80, 0.05);
  make_run(dir, "a/rigl_s1", "rigl", 0.1, 0.84, 0.07);
  make_run(dir, "b/deep/rigl_s2", "rigl", 0.1, 0.88, 0.06);  // any depth
  make_run(dir, "rigl_d2", "rigl", 0.2, 0.90, 0.04);
  make_run(dir, "dense", "dense", 1.0, 0.91, 0.09);
  make_run(dir, "cigl_broken", "cigl", 0.1, 0, 0, /*finished=*/false);

  auto report = build_report({dir.path().string()}, {});
  ASSERT_EQ(report.groups.size(), 3u);
  // Sorted by method, then sparsity: dense, rigl 80%, rigl 90%.
  EXPECT_EQ(report.groups[0].method, "dense");
  EXPECT_DOUBLE_EQ(report.groups[1].density, 0.2);
  const auto& g = report.groups[2];
  EXPECT_EQ(g.runs.size(), 3u);
  // Accuracy 0.80, 0.84, 0.88: mean 0.84, sample sd sqrt(0.0032/2) = 0.04.
  EXPECT_NEAR(g.stats.at("accuracy").first, 0.84, 1e-12);
  EXPECT_NEAR(g.stats.at("accuracy").second, 0.04, 1e-12);
  // ECE 0.05, 0.07, 0.06: mean 0.06, sd 0.01.
  EXPECT_NEAR(g.stats.at("ece").second, 0.01, 1e-12);
  EXPECT_EQ(report.groups[1].stats.at("accuracy").second, 0.0);  // one run
  ASSERT_EQ(report.incomplete.size(), 1u);
  EXPECT_NE(report.incomplete[0].find("cigl_broken"), std::string::npos);

  write_report(report, dir.file("out"));
  const std::string csv = test::read_file(dir.file("out/report.csv"));
  EXPECT_NE(csv.find("\nrigl,0.9,3,0.84,0.0399999"), std::string::npos) << csv;
  const std::string md = test::read_file(dir.file("out/report.md"));
  EXPECT_NE(md.find("| rigl | 90% | 3 | 0.8400 +- 0.0400 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("cigl_broken: no metrics.json"), std::string::npos);

  const std::string svg = test::read_file(dir.file("out/sparsity.svg"));
  EXPECT_TRUE(test::well_formed_xml(svg)) << svg.substr(0, 400);
  // Two charts (accuracy, ECE), each: rigl 2 points, dense a reference
  // line of 2 points.
  const std::regex point("class=\"point\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), point),
                          std::sregex_iterator()),
            8);
}

TEST(Report, ByKeysSplitGroups) {
  test::TempDir dir("report-by");
  make_run(dir, "x", "rigl", 0.1, 0.8, 0.05);
  auto report = build_report({dir.path().string()}, {"model.plugin"});
  ASSERT_EQ(report.groups.size(), 1u);
  EXPECT_EQ(report.groups[0].by, std::vector<std::string>{"mlp"});
}

}  // namespace
}  // namespace cigl
