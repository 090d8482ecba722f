// The SVG charts (svg.cpp): 1-2-5 ticks worked out by hand, one element
// per data point, bands and reference levels, the reliability diagram's
// bars, gaps and histogram, and escaping.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "cigl/core/svg.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

using svg::nice_ticks;
using svg::tick_label;

long count(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                       std::sregex_iterator());
}

std::vector<std::string> labels(const std::string& svg, const char* cls) {
  std::vector<std::string> out;
  const std::regex re(std::string("class=\"") + cls + "\"[^>]*>([^<]*)<");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re);
       it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

TEST(NiceTicks, StepsAreOneTwoOrFiveTimesAPowerOfTen) {
  // The ticks 3.75, 83.8 and 91.2 came from quartering the range.
  EXPECT_EQ(nice_ticks(80, 95, 5), (std::vector<double>{80, 85, 90, 95}));
  EXPECT_EQ(nice_ticks(1, 12, 5), (std::vector<double>{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(nice_ticks(0.836, 0.893, 5),
            (std::vector<double>{0.84, 0.85, 0.86, 0.87, 0.88, 0.89}));
  EXPECT_EQ(nice_ticks(0, 1, 5),
            (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks(-3, 7, 5), (std::vector<double>{-2, 0, 2, 4, 6}));
  // Whole numbers only (epochs): 1-3 would otherwise tick every 0.5.
  EXPECT_EQ(nice_ticks(0.9, 3.1, 5, 1), (std::vector<double>{1, 2, 3}));
  // A narrow range still gets two ticks.
  EXPECT_GE(nice_ticks(0.5, 0.5004, 5).size(), 2u);
  EXPECT_EQ(nice_ticks(2, 2), (std::vector<double>{2}));
}

TEST(NiceTicks, LabelsHaveTheDigitsOfTheStep) {
  EXPECT_EQ(tick_label(0.84, 0.01), "0.84");
  EXPECT_EQ(tick_label(85, 5), "85");
  EXPECT_EQ(tick_label(0.3, 0.1), "0.3");  // 3 * 0.1 = 0.30000000000000004
  EXPECT_EQ(tick_label(0.25, 0.05), "0.25");
  EXPECT_EQ(tick_label(1e-17, 0.2), "0.0");  // not -0.0 or 1e-17
  EXPECT_EQ(tick_label(2e-5, 1e-5), "2e-05");
}

TEST(Chart, OnePointPerFiniteValueAndLabelledAxes) {
  svg::Chart c{"t <&>",
               "epoch",
               "loss",
               {{"loss", {1, 2, 3}, {0.5, NAN, 0.2}, {}, false}},
               {}};
  c.integer_x = true;
  auto doc = svg::document(400, 300, svg::chart(c, 0, 0, 400, 300));
  EXPECT_TRUE(test::well_formed_xml(doc)) << doc;
  EXPECT_EQ(count(doc, "class=\"point\""), 2);
  EXPECT_EQ(labels(doc, "tick-x"), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_NE(doc.find(">epoch<"), std::string::npos);
  EXPECT_NE(doc.find("rotate(-90)\" text-anchor=\"middle\">loss<"),
            std::string::npos);
  EXPECT_NE(doc.find("t &lt;&amp;&gt;"), std::string::npos);
}

TEST(Chart, SpreadIsABandAndAReferenceSpansTheWholeRange) {
  svg::Series rigl{"rigl", {80, 90}, {0.8, 0.7}, {0.01, 0.02}, false};
  svg::Series dense{"dense", {}, {0.9}, {0.005}, true};
  auto doc = svg::document(
      400, 300,
      svg::chart({"acc", "sparsity (%)", "accuracy", {rigl, dense}, {}}, 0, 0,
                 400, 300));
  EXPECT_TRUE(test::well_formed_xml(doc));
  EXPECT_EQ(count(doc, "class=\"band\""), 1);
  EXPECT_EQ(count(doc, "class=\"reference\""), 1);
  EXPECT_EQ(count(doc, "class=\"reference-line\""), 1);
  // The y range covers the bands: 0.68 .. 0.905 at least.
  const auto y = labels(doc, "tick-y");
  ASSERT_FALSE(y.empty());
  EXPECT_LE(std::stod(y.front()), 0.7);
  EXPECT_GE(std::stod(y.back()), 0.9);
  // The reference band spans the plot's full width (x from 66 to 386).
  EXPECT_NE(doc.find("class=\"reference\" x=\"66\""), std::string::npos);
  EXPECT_NE(doc.find("width=\"320.00\" height="), std::string::npos);
}

TEST(Legend, OneSwatchPerNameInItsColour) {
  int height = 0;
  auto g = svg::legend({"dense", "rigl"}, {3, 0}, 10, 20, &height);
  EXPECT_EQ(height, 40);
  EXPECT_NE(g.find(std::string("fill=\"") + svg::color(3) +
                   "\"/>\n<text x=\"20\" "
                   "y=\"11\">dense<"),
            std::string::npos)
      << g;
}

TEST(ReliabilityDiagram, GapsTakeTheirOwnColourAndCountsSitBelow) {
  // Four bins: empty; 0.3 confident, all right (under-confident); 0.6
  // confident, half right, and 0.9 confident, 0.8 right (over-confident).
  BinSummary bins;
  bins.lower = {0, 0.25, 0.5, 0.75};
  bins.upper = {0.25, 0.5, 0.75, 1};
  bins.count = {0, 2, 4, 10};
  bins.confidence = {NAN, 0.3, 0.6, 0.9};
  bins.accuracy = {NAN, 1.0, 0.5, 0.8};
  bins.total = 16;
  bins.ece = (2 * 0.7 + 4 * 0.1 + 10 * 0.1) / 16.0;
  const std::string svg = svg::reliability_diagram(bins, "mlp, rigl <90%>");
  EXPECT_TRUE(test::well_formed_xml(svg));
  EXPECT_EQ(count(svg, "class=\"bar\""), 3);  // one per non-empty bin
  EXPECT_EQ(count(svg, "class=\"gap-under\""), 1);
  EXPECT_EQ(count(svg, "class=\"gap-over\""), 2);
  EXPECT_EQ(count(svg, "class=\"count\""), 3);
  EXPECT_NE(svg.find("mlp, rigl &lt;90%&gt;"), std::string::npos);
  EXPECT_NE(svg.find("ECE 0.1750 over 4 equal-width bins, 16 examples"),
            std::string::npos);
  // The legend shows both gap colours, as drawn.
  EXPECT_NE(svg.find(">over-confident gap<"), std::string::npos);
  EXPECT_NE(svg.find(">under-confident gap<"), std::string::npos);
  // Mean confidence (2*0.3 + 4*0.6 + 10*0.9) / 16, accuracy (2 + 2 + 8) / 16.
  EXPECT_NE(svg.find("mean confidence 0.750"), std::string::npos);
  EXPECT_NE(svg.find("accuracy 0.750"), std::string::npos);
}

}  // namespace
}  // namespace cigl
