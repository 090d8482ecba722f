// The content of a run folder's files (run_outputs.cpp), built from
// hand-made results without training: metrics.json read back with
// nlohmann-json (strings with every escape, numbers exactly), the CSV
// rows, titles and the pictures' data.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include <torch/torch.h>

#include "cigl/core/run_outputs.hpp"
#include "test_support.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

ExperimentConfig config(const std::string& text = "") {
  return ConfigDocument::from_string(text, "exp.toml")
      .resolve(test::bundled_registry());
}

long count(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                       std::sregex_iterator());
}

TEST(MetricsJson, ReadsBackExactlyWithEveryEscape) {
  auto c = config("[method]\nplugin = \"static\"\n");
  const std::string name =
      "quote \" backslash \\ newline \n return \r tab \t ctl \x01 "
      "\xc3\xa9 \xf0\x9f\x99\x82";
  c.experiment.set("name", name, "test");
  TestReport report;
  report.metrics = {{"accuracy", 0.012345678901234567},
                    {"top5", std::nan("")},
                    {"ece", 4.9406564584124654e-324}};
  report.series["reliability"] = {{"count", {0, 3, 1e300}}};
  report.temperature = 1.5;
  report.scaled = {{"accuracy", 0.5}};
  RunFacts facts;
  facts.density = 0.1;
  facts.mask_density = 0.1;
  facts.steps = 9007199254740993;  // above 2^53: an integer, not a double
  facts.seconds = 1.23456;
  const auto j = nlohmann::json::parse(
      metrics_json(c, test::bundled_registry(), report, facts));
  EXPECT_EQ(j["experiment"].get<std::string>(), name);
  EXPECT_EQ(j["method"], "static");
  EXPECT_EQ(j["test"]["accuracy"].get<double>(), 0.012345678901234567);
  EXPECT_TRUE(j["test"]["top5"].is_null()) << "NaN is null, not 0";
  EXPECT_EQ(j["test"]["ece"].get<double>(), 4.9406564584124654e-324);
  EXPECT_EQ(j["steps"].get<std::int64_t>(), 9007199254740993);
  EXPECT_EQ(j["seconds"].get<double>(), 1.235);  // to the millisecond
  EXPECT_EQ(j["series"]["reliability"]["count"][2].get<double>(), 1e300);
  EXPECT_EQ(j["test_temperature_scaled"]["accuracy"], 0.5);
  EXPECT_EQ(j["versions"]["method/static"], "static 1.0.0");
  // Keys in the order a reader expects: identity first, then results.
  const std::string text =
      metrics_json(c, test::bundled_registry(), report, facts);
  EXPECT_LT(text.find("\"experiment\""), text.find("\"test\""));
  EXPECT_LT(text.find("\"test\""), text.find("\"versions\""));
}

TEST(HistoryCsv, HeaderAndRowsInShortestText) {
  EXPECT_EQ(history_csv_header({"accuracy", "ece"}),
            "epoch,step,lr,train_loss,val_accuracy,val_ece,density,seconds\n");
  EpochRecord r;
  r.epoch = 3;
  r.step = 300;
  r.lr = 0.1;
  r.train_loss = 1.0 / 3;
  r.validation = {{"ece", 0.25}, {"accuracy", 0.5}};  // found by name
  r.density = 0.1;
  r.seconds = 12.3456;
  EXPECT_EQ(history_csv_row(r, {"accuracy", "ece"}),
            "3,300,0.1,0.3333333333333333,0.5,0.25,0.1,12.346\n");
  r.validation.clear();  // an epoch without validation: empty cells
  EXPECT_EQ(history_csv_row(r, {"accuracy", "ece"}),
            "3,300,0.1,0.3333333333333333,,,0.1,12.346\n");
}

TEST(PredictionsCsv, LabelThenEveryProbabilityAtFullPrecision) {
  auto p =
      torch::tensor({0.1, 0.9, 1.0 / 3, 2.0 / 3}, torch::kDouble).view({2, 2});
  EXPECT_EQ(
      predictions_csv(p, torch::tensor({1, 0}, torch::kLong)),
      "label,p0,p1\n1,0.1,0.9\n0,0.3333333333333333,0.6666666666666666\n");
}

TEST(RunTitle, NamesModelDatasetMethodAndSparsity) {
  auto c = config("[method]\nplugin = \"rigl\"\n");
  EXPECT_EQ(run_title(c, 0.1), "mlp on fashion_mnist, rigl, 90% sparse");
  EXPECT_EQ(run_title(c, 0.1034), "mlp on fashion_mnist, rigl, 89.7% sparse");
  EXPECT_EQ(run_title(c, 1.0), "mlp on fashion_mnist, rigl, dense");
  EXPECT_EQ(run_title(config(), 1.0), "mlp on fashion_mnist, dense");
}

TEST(ReliabilityBinCount, FollowsTheEceMetric) {
  EXPECT_EQ(reliability_bin_count(config()), 15);  // every default metric
  EXPECT_EQ(reliability_bin_count(
                config("[[metrics]]\nplugin = \"reliability\"\nn_bins = 8\n"
                       "[[metrics]]\nplugin = \"ece\"\nn_bins = 10\n")),
            10);
  EXPECT_EQ(reliability_bin_count(
                config("[[metrics]]\nplugin = \"reliability\"\nn_bins = 8\n")),
            8);
  EXPECT_EQ(reliability_bin_count(config("[[metrics]]\nplugin = \"nll\"\n")),
            15);
}

TEST(ReliabilitySvg, BinsTheTestPredictionsInTheEceBins) {
  auto c = config("[[metrics]]\nplugin = \"ece\"\nn_bins = 4\n");
  TestReport report;
  // Top confidences 0.9, 0.9, 0.6, 0.3 (four classes): two bins hold
  // examples, (.75, 1] and (.5, .75]; 0.3 in (.25, .5].
  report.probabilities =
      torch::tensor({0.9, 0.1, 0.0, 0.0, 0.9, 0.1, 0.0, 0.0, 0.6, 0.4, 0.0, 0.0,
                     0.3, 0.25, 0.25, 0.2},
                    torch::kDouble)
          .view({4, 4});
  report.labels = torch::tensor({0, 1, 0, 0}, torch::kLong);
  const std::string svg = reliability_svg(c, report, 1.0);
  EXPECT_TRUE(test::well_formed_xml(svg));
  EXPECT_EQ(count(svg, "class=\"count\""), 3);
  EXPECT_NE(svg.find("over 4 equal-width bins, 4 examples"), std::string::npos);
  EXPECT_NE(svg.find("mlp on fashion_mnist, dense (seed 0), test set"),
            std::string::npos);
  EXPECT_EQ(reliability_svg(c, TestReport{}, 1.0), "");
}

TEST(HistorySvg, OnePanelPerCurveWithAPointPerEpoch) {
  auto c = config(
      "[[metrics]]\nplugin = \"accuracy\"\n[[metrics]]\nplugin = \"nll\"\n");
  std::vector<EpochRecord> records(3);
  for (int e = 0; e < 3; ++e) {
    records[e].epoch = e + 1;
    records[e].lr = 0.1 / (e + 1);
    records[e].train_loss = 1.0 / (e + 1);
    records[e].density = 1;
    if (e != 1) {  // epoch 2 did not validate: a gap, no point
      records[e].validation = {{"accuracy", 0.5 + e * 0.1}, {"nll", 0.9}};
    }
  }
  const std::string svg = history_svg(c, records, 1.0);
  EXPECT_TRUE(test::well_formed_xml(svg));
  // No ECE configured: loss (training + validation), accuracy, learning
  // rate, density.
  EXPECT_EQ(svg.find(">validation ECE<"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"point\""), 3 + 2 + 2 + 3 + 3);
  EXPECT_EQ(count(svg, "class=\"tick-x\"[^>]*>[0-9]+<"),
            count(svg, "class=\"tick-x\""))
      << "epochs are whole numbers";
  EXPECT_NE(svg.find(">loss: validation<"), std::string::npos);
}

}  // namespace
}  // namespace cigl
