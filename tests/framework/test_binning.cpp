// The SDK's confidence bins (binning.cpp), shared by ECE, MCE, class-wise
// ECE and the reliability diagram: edges, sums and gaps worked out by
// hand, and a direct loop written here on random inputs.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "cigl/binning.hpp"

namespace cigl {
namespace {

torch::Tensor doubles(std::vector<double> v) {
  return torch::tensor(v, torch::kDouble);
}

TEST(ConfidenceBins, UpperEdgeIsInclusiveAndZeroJoinsTheFirstBin) {
  ConfidenceBins bins(15);
  // Edges are i/15, one division each; bin i includes its upper edge. The
  // double just above 11/15 times 15 rounds to exactly 11, so a bare
  // ceil(c * n) - 1 would put it in bin 10 with 11/15 itself.
  const double edge = 11.0 / 15;
  auto b = bins.bin_of(doubles({0.0, 1e-300, 1.0 / 15, 0.0666666666666667, edge,
                                std::nextafter(edge, 1.0), 1.0}));
  EXPECT_EQ(std::vector<std::int64_t>(b.data_ptr<std::int64_t>(),
                                      b.data_ptr<std::int64_t>() + 7),
            (std::vector<std::int64_t>{0, 0, 0, 1, 10, 11, 14}));
}

TEST(ConfidenceBins, SummaryAndGapsOfFourExamples) {
  // Four bins; confidences 0.5 (wrong), 0.6 (wrong), 0.8 and 1.0 (right):
  // (0,.25] empty, (.25,.5] {0.5}, (.5,.75] {0.6}, (.75,1] {0.8, 1.0}.
  ConfidenceBins bins(4);
  bins.add(doubles({0.5, 0.6}), doubles({0, 0}));  // two batches add up
  bins.add(doubles({0.8, 1.0}), doubles({1, 1}));
  auto s = bins.summary();
  EXPECT_EQ(s.count, (std::vector<double>{0, 1, 1, 2}));
  EXPECT_EQ(s.lower, (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(s.upper, (std::vector<double>{0.25, 0.5, 0.75, 1}));
  EXPECT_TRUE(std::isnan(s.confidence[0]));  // empty, not 0
  EXPECT_TRUE(std::isnan(s.accuracy[0]));
  EXPECT_DOUBLE_EQ(s.confidence[3], 0.9);
  EXPECT_DOUBLE_EQ(s.accuracy[3], 1.0);
  EXPECT_EQ(s.total, 4);
  // ECE: (|0 - 0.5| + |0 - 0.6| + |2 - 1.8|) / 4; MCE: the 0.6 bin.
  EXPECT_NEAR(s.ece, (0.5 + 0.6 + 0.2) / 4, 1e-15);
  EXPECT_NEAR(bins.expected_gap(), s.ece, 1e-15);
  EXPECT_NEAR(bins.max_gap(), 0.6, 1e-15);
  EXPECT_EQ(bins.series().at("count"), s.count);
}

TEST(ConfidenceBins, EmptyBinsGiveNaNAndResetEmpties) {
  ConfidenceBins bins(3);
  EXPECT_TRUE(std::isnan(bins.expected_gap()));
  EXPECT_TRUE(std::isnan(bins.max_gap()));
  bins.add(doubles({0.9}), doubles({1}));
  EXPECT_EQ(bins.total(), 1);
  bins.reset();
  EXPECT_EQ(bins.total(), 0);
  EXPECT_THROW(ConfidenceBins(0), std::exception);
  EXPECT_THROW(bins.add(doubles({0.9, 0.8}), doubles({1})), std::exception);
}

TEST(ConfidenceBins, OfPredictionsTakesTheTopClass) {
  // Rows: top 0.7 for class 0 (label 0: right), top 0.6 for class 1 (label
  // 0: wrong).
  auto p = doubles({0.7, 0.3, 0.4, 0.6}).view({2, 2});
  auto bins =
      ConfidenceBins::of_predictions(p, torch::tensor({0, 0}, torch::kLong), 2);
  auto s = bins.summary();
  EXPECT_EQ(s.count, (std::vector<double>{0, 2}));
  EXPECT_DOUBLE_EQ(s.confidence[1], 0.65);
  EXPECT_DOUBLE_EQ(s.accuracy[1], 0.5);
}

TEST(ConfidenceBins, AgreeWithADirectLoopOnRandomInputs) {
  torch::manual_seed(3);
  const int n = 15;
  auto confidence = torch::rand({2000}, torch::kDouble);
  confidence.index_put_({torch::indexing::Slice(0, 30)},
                        torch::arange(30, torch::kDouble) / 15);  // edges too
  confidence = confidence.clamp(0, 1);
  auto hit = torch::randint(2, {2000}, torch::kDouble);
  ConfidenceBins bins(n);
  bins.add(confidence, hit);
  // Direct: bin b holds (b/n, (b+1)/n], found by scanning the edges.
  std::vector<double> count(n), conf(n), hits(n);
  for (int i = 0; i < 2000; ++i) {
    const double c = confidence[i].item<double>();
    int b = 0;
    while (b < n - 1 && c > static_cast<double>(b + 1) / n) ++b;
    count[b] += 1;
    conf[b] += c;
    hits[b] += hit[i].item<double>();
  }
  double ece = 0;
  for (int b = 0; b < n; ++b) ece += std::abs(hits[b] - conf[b]);
  EXPECT_EQ(bins.summary().count, count);
  EXPECT_NEAR(bins.expected_gap(), ece / 2000, 1e-12);
}

}  // namespace
}  // namespace cigl
