// cigl-report (report.cpp) on hand-made run folders: which runs are
// averaged together and which are kept apart, means and deviations worked
// out by hand, unfinished runs listed, and the files it writes.
#include <gtest/gtest.h>

#include <regex>

#include "cigl/core/report.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

struct RunSpec {
  std::string method = "rigl";
  double density = 0.1;
  std::string model = "mlp";
  std::string hidden = "[300, 100]";
  int seed = 0;
  double accuracy = 0.8, ece = 0.05;
  std::string status;  ///< status.json state; "" none
  bool metrics = true;
};

void make_run(const test::TempDir& dir, const std::string& name,
              const RunSpec& r) {
  auto folder = dir.path() / name;
  std::filesystem::create_directories(folder);
  std::string config = "[experiment]\nname = \"" + name +
                       "\"\nseed = " + std::to_string(r.seed) +
                       "\n[method]\nplugin = \"" + r.method + "\"\n";
  if (r.method != "dense") {
    config +=
        "density = " + std::to_string(r.density) + "\nupdate_interval = 100\n";
  }
  config += "[model]\nplugin = \"" + r.model + "\"\n";
  if (r.model == "mlp") config += "hidden = " + r.hidden + "\n";
  config += "[[metrics]]\nplugin = \"accuracy\"\n";
  test::write_file((folder / "config.toml").string(), config);
  if (!r.status.empty()) {
    test::write_file((folder / "status.json").string(),
                     "{\"state\": \"" + r.status + "\"}\n");
  }
  if (!r.metrics) return;
  test::write_file(
      (folder / "metrics.json").string(),
      "{\n  \"test\": {\n    \"accuracy\": " + std::to_string(r.accuracy) +
          ",\n    \"ece\": " + std::to_string(r.ece) +
          "\n  },\n  \"density\": " +
          std::to_string(r.method == "dense" ? 1.0 : r.density) + "\n}\n");
}

RunSpec spec(const std::string& method, double density, double accuracy,
             double ece, int seed = 0) {
  RunSpec r;
  r.method = method;
  r.density = density;
  r.accuracy = accuracy;
  r.ece = ece;
  r.seed = seed;
  return r;
}

std::string error_of(const std::vector<std::string>& roots,
                     const ReportOptions& options = {}) {
  try {
    build_report(roots, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Aggregate, MeanAndSampleDeviationOverFiniteValues) {
  // 0.80, 0.84, 0.88: mean 0.84, sample sd sqrt(0.0032 / 2) = 0.04.
  auto a = aggregate({0.80, 0.84, NAN, 0.88});
  EXPECT_EQ(a.count, 3u);
  EXPECT_NEAR(a.mean, 0.84, 1e-15);
  EXPECT_NEAR(a.std, 0.04, 1e-15);
  auto one = aggregate({0.5});
  EXPECT_EQ(one.mean, 0.5);
  EXPECT_TRUE(std::isnan(one.std)) << "one run has no deviation";
  EXPECT_EQ(aggregate({}).count, 0u);
}

TEST(Report, GroupsBySparsityAveragingOnlyOverSeeds) {
  test::TempDir dir("report");
  make_run(dir, "a/rigl_s0", spec("rigl", 0.1, 0.80, 0.05, 0));
  make_run(dir, "a/rigl_s1", spec("rigl", 0.1, 0.84, 0.07, 1));
  make_run(dir, "b/deep/rigl_s2", spec("rigl", 0.1, 0.88, 0.06, 2));
  make_run(dir, "rigl_d2", spec("rigl", 0.2, 0.90, 0.04));
  make_run(dir, "dense", spec("dense", 1.0, 0.91, 0.09));
  RunSpec missing = spec("cigl", 0.1, 0, 0);
  missing.metrics = false;
  make_run(dir, "cigl_broken", missing);
  RunSpec running = spec("cigl", 0.1, 0.5, 0.5);
  running.status = "running";  // metrics.json of an earlier attempt
  make_run(dir, "cigl_running", running);
  RunSpec done = spec("rigl", 0.2, 0.92, 0.04, 1);
  done.status = "done";
  make_run(dir, "rigl_d2_s1", done);

  auto report = build_report({dir.path().string()});
  EXPECT_TRUE(report.keys.empty()) << report.keys[0];
  ASSERT_EQ(report.groups.size(), 3u);
  // Sorted by method, then sparsity: dense, rigl 80%, rigl 90%.
  EXPECT_EQ(report.groups[0].method, "dense");
  EXPECT_DOUBLE_EQ(report.groups[1].density, 0.2);
  const auto& g = report.groups[2];
  EXPECT_EQ(g.runs.size(), 3u);
  EXPECT_NEAR(g.stats.at("accuracy").mean, 0.84, 1e-12);
  EXPECT_NEAR(g.stats.at("accuracy").std, 0.04, 1e-12);
  EXPECT_NEAR(g.stats.at("ece").std, 0.01, 1e-12);  // 0.05, 0.07, 0.06
  EXPECT_EQ(report.groups[1].runs.size(), 2u);      // status done counts
  ASSERT_EQ(report.unfinished.size(), 2u);
  EXPECT_NE(report.unfinished[0].find("cigl_broken: no metrics.json"),
            std::string::npos);
  EXPECT_NE(report.unfinished[1].find("cigl_running: state running"),
            std::string::npos);

  write_report(report, dir.file("out"));
  const std::string csv = test::read_file(dir.file("out/report.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "method,sparsity,runs,accuracy_mean,accuracy_std,ece_mean,ece_std,"
            "density_mean,density_std");
  EXPECT_NE(csv.find("\nrigl,0.9,3,0.84,0.0399999"), std::string::npos) << csv;
  // One dense run: a mean, no deviation.
  EXPECT_NE(csv.find("\ndense,0,1,0.91,,0.09,,1,\n"), std::string::npos) << csv;
  const std::string md = test::read_file(dir.file("out/report.md"));
  EXPECT_NE(md.find("| rigl | 90% | 3 | 0.8400 +- 0.0400 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| dense | 0% | 1 | 0.9100 | 0.0900 | 1.0000 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("differ only in experiment.seed"), std::string::npos);
  EXPECT_NE(md.find("cigl_running: state running"), std::string::npos);

  const std::string svg = test::read_file(dir.file("out/sparsity.svg"));
  EXPECT_TRUE(test::well_formed_xml(svg)) << svg.substr(0, 400);
  // Two panels (accuracy, ECE): rigl a line of two points with a band,
  // dense a reference band across the range; the legend outside them.
  const std::regex point("class=\"point\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), point),
                          std::sregex_iterator()),
            4);
  // One dense run has no deviation: a level, no band around it.
  EXPECT_NE(svg.find("class=\"reference-line\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"band\""), std::string::npos);
  EXPECT_NE(svg.find(">mlp: test metrics against sparsity<"), std::string::npos)
      << svg.substr(0, 600);
}

TEST(Report, RunsOfDifferentModelsOrArraysAreNeverAveragedTogether) {
  test::TempDir dir("report-models");
  RunSpec lenet = spec("rigl", 0.1, 0.30, 0.1);
  lenet.model = "lenet5";
  make_run(dir, "lenet", lenet);
  make_run(dir, "mlp", spec("rigl", 0.1, 0.80, 0.1));
  RunSpec small = spec("rigl", 0.1, 0.70, 0.1);
  small.hidden = "[64]";
  make_run(dir, "mlp64", small);
  // lenet5 has no model.hidden: model.plugin explains that, so only the
  // two keys whose values differ are listed.
  auto report = build_report({dir.path().string()});
  EXPECT_EQ(report.keys,
            (std::vector<std::string>{"model.hidden", "model.plugin"}));
  ASSERT_EQ(report.groups.size(), 3u);
  for (const auto& g : report.groups) EXPECT_EQ(g.runs.size(), 1u);
  EXPECT_EQ(report.groups[0].values, (std::vector<std::string>{"-", "lenet5"}));
  EXPECT_EQ(report.groups[1].values,
            (std::vector<std::string>{"[ 300, 100 ]", "mlp"}));
  EXPECT_EQ(report.groups[2].values,
            (std::vector<std::string>{"[ 64 ]", "mlp"}));
  EXPECT_NE(report_markdown(report).find(
                "| rigl | 90% | [ 64 ] | mlp | 1 | 0.7000 |"),
            std::string::npos)
      << report_markdown(report);
  // The CSV quotes the array's comma.
  EXPECT_NE(report_csv(report).find("rigl,0.9,\"[ 300, 100 ]\",mlp,1,"),
            std::string::npos)
      << report_csv(report);

  // Told to, it averages over the hidden sizes, and says so.
  ReportOptions ignore;
  ignore.ignore = {"model.hidden"};
  auto merged = build_report({dir.path().string()}, ignore);
  EXPECT_EQ(merged.keys, (std::vector<std::string>{"model.plugin"}));
  ASSERT_EQ(merged.groups.size(), 2u);
  EXPECT_NEAR(merged.groups[1].stats.at("accuracy").mean, 0.75, 1e-12);
  EXPECT_NE(report_markdown(merged).find(
                "differ only in experiment.seed, model.hidden"),
            std::string::npos);
}

TEST(Report, ByShowsAConstantKeyAndUnknownKeysAreErrors) {
  test::TempDir dir("report-by");
  make_run(dir, "x", spec("rigl", 0.1, 0.8, 0.05));
  ReportOptions by;
  by.by = {"model.hidden"};
  auto report = build_report({dir.path().string()}, by);
  ASSERT_EQ(report.groups.size(), 1u);
  EXPECT_EQ(report.groups[0].values, std::vector<std::string>{"[ 300, 100 ]"});
  by.by = {"model.hiden"};
  EXPECT_EQ(error_of({dir.path().string()}, by),
            "--by model.hiden: no finished run has this key (did you mean "
            "'model.hidden'?)");
  ReportOptions ignore;
  ignore.ignore = {"metric"};
  EXPECT_NE(error_of({dir.path().string()}, ignore).find("--ignore metric:"),
            std::string::npos);
}

TEST(Report, NoFinishedRunIsAnErrorNotAnEmptyReport) {
  test::TempDir dir("report-empty");
  EXPECT_NE(error_of({dir.path().string()}).find("no run folders"),
            std::string::npos);
  RunSpec failed = spec("rigl", 0.1, 0, 0);
  failed.status = "failed";
  make_run(dir, "f", failed);
  const std::string e = error_of({dir.path().string()});
  EXPECT_NE(e.find("no finished runs among the 1 run folders"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line";
}

TEST(Report, ReliabilityOfOlderRunsIsNotAColumn) {
  test::TempDir dir("report-old");
  make_run(dir, "old", spec("rigl", 0.1, 0.8, 0.05));
  // Before Metric::scalar, the reliability series also had a test value.
  test::write_file(dir.file("old/metrics.json"),
                   R"({"test": {"accuracy": 0.8, "reliability": 0.05,
                       "top5": null},
                       "series": {"reliability": {"count": [1]}}})");
  auto report = build_report({dir.path().string()});
  EXPECT_EQ(report.metrics, (std::vector<std::string>{"accuracy", "top5"}));
  EXPECT_EQ(report.groups[0].stats.at("top5").count, 0u);
  EXPECT_NE(report_markdown(report).find("| 0.8000 | - |"), std::string::npos);
}

}  // namespace
}  // namespace cigl
