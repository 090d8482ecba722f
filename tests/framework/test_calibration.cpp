// Temperature scaling and the reliability data behind reliability.svg.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include <torch/torch.h>

#include "cigl/core/calibration.hpp"
#include "cigl/core/svg.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

TEST(TemperatureScaling, FindsTheClosedFormOptimum) {
  // Every example has logits (2, 0); 80% are class 0. The NLL is minimal
  // where sigmoid(2 / T) = 0.8, i.e. T = 2 / ln 4.
  auto logits = torch::tensor({2.0, 0.0}, torch::kDouble).repeat({10, 1});
  auto labels = torch::tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, torch::kLong);
  EXPECT_NEAR(fit_temperature(logits, labels), 2.0 / std::log(4.0), 1e-9);
}

TEST(TemperatureScaling, OverconfidentLogitsGetATemperatureAboveOne) {
  // Logits (6, 0) but only 60% right: T = 6 / ln(1.5) = 14.8.
  auto logits = torch::tensor({6.0, 0.0}, torch::kDouble).repeat({5, 1});
  auto labels = torch::tensor({0, 0, 0, 1, 1}, torch::kLong);
  EXPECT_NEAR(fit_temperature(logits, labels), 6.0 / std::log(1.5), 1e-8);
}

TEST(ReliabilityBins, EdgesConfidenceZeroAndEmptyBins) {
  // Confidences 0.5 (right), 0.75 (wrong), 1.0 (right) in 4 bins:
  // (0,.25] empty, (.25,.5] {0.5}, (.5,.75] {0.75}, (.75,1] {1.0}.
  auto p = torch::tensor({0.5, 0.5, 0.25, 0.75, 1.0, 0.0}, torch::kDouble)
               .view({3, 2});
  auto bins = ReliabilityBins::from(p, torch::tensor({0, 0, 0}), 4);
  EXPECT_EQ(bins.count, (std::vector<double>{0, 1, 1, 1}));
  EXPECT_TRUE(std::isnan(bins.accuracy[0]));
  EXPECT_DOUBLE_EQ(bins.accuracy[2], 0.0);
  EXPECT_DOUBLE_EQ(bins.confidence[2], 0.75);
  EXPECT_NEAR(bins.ece, (0.5 + 0.75 + 0) / 3, 1e-12);

  const std::string svg = svg::reliability_diagram(bins, "t <&> \"q\"");
  EXPECT_TRUE(test::well_formed_xml(svg));
  const std::regex bar("class=\"bar\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), bar),
                          std::sregex_iterator()),
            3);  // one per non-empty bin
  EXPECT_NE(svg.find("ECE 0.4167"), std::string::npos);
}

TEST(Svg, LineChartHasOnePointPerFiniteValue) {
  svg::Series s{"loss", {1, 2, 3}, {0.5, NAN, 0.2}};
  auto doc = svg::document(400, 300,
                           svg::line_chart("t", "epoch", {s}, 0, 0, 400, 300));
  EXPECT_TRUE(test::well_formed_xml(doc));
  const std::regex point("class=\"point\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(doc.begin(), doc.end(), point),
                          std::sregex_iterator()),
            2);
}

}  // namespace
}  // namespace cigl
