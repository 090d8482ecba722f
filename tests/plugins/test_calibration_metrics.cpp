// mce, adaptive_ece, classwise_ece, top5 and reliability: against values
// worked out by hand, and against a direct implementation written here
// for random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/metric.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::shared_ptr<Metric> make(const std::string& name, std::int64_t n_bins = 0) {
  auto& registry = test::bundled_registry();
  Params params = default_params(registry, Kind::metric, name);
  if (n_bins > 0) params.set("n_bins", n_bins, "test");
  auto m = registry.make<Metric>(name, params);
  m->reset();
  return m;
}

double run(const std::string& name, const torch::Tensor& probs,
           const std::vector<std::int64_t>& labels, std::int64_t n_bins = 0) {
  auto m = make(name, n_bins);
  auto y = torch::tensor(labels, torch::kLong);
  auto half = probs.size(0) / 2;  // two batches: metrics must accumulate
  m->update(probs.narrow(0, 0, half).log(), y.narrow(0, 0, half));
  m->update(probs.narrow(0, half, probs.size(0) - half).log(),
            y.narrow(0, half, y.size(0) - half));
  return m->value();
}

// Probabilities {0.8, 0.2}, {0.4, 0.6}, {1, 0}, {0.5, 0.5}; labels 0,0,0,1.
torch::Tensor four() {
  return torch::tensor({0.8, 0.2, 0.4, 0.6, 1.0, 0.0, 0.5, 0.5}, torch::kDouble)
      .view({4, 2});
}
const std::vector<std::int64_t> kLabels = {0, 0, 0, 1};

TEST(Mce, IsTheLargestGapOfANonEmptyBin) {
  // Ten bins: 0.8 right (gap 0.2), 0.6 wrong (0.6), 1.0 right (0), 0.5
  // wrong (0.5). Empty bins do not count as gap 0 or anything else.
  EXPECT_NEAR(run("mce", four(), kLabels, 10), 0.6, 1e-12);
  // Two bins: (0, .5] gap 0.5; (.5, 1] |2/3 - 0.8|.
  EXPECT_NEAR(run("mce", four(), kLabels, 2), 0.5, 1e-12);
}

TEST(AdaptiveEce, SplitsSortedConfidencesIntoEqualGroups) {
  // Sorted confidences 0.5 (wrong), 0.6 (wrong) | 0.8 (right), 1 (right):
  // |0 - 1.1| + |2 - 1.8| over 4.
  EXPECT_NEAR(run("adaptive_ece", four(), kLabels, 2), (1.1 + 0.2) / 4, 1e-12);
  // One group: |2 - 2.9| / 4.
  EXPECT_NEAR(run("adaptive_ece", four(), kLabels, 1), 0.9 / 4, 1e-12);
}

TEST(ClasswiseEce, AveragesEachClassesCalibration) {
  // Two bins per class. Class 0 probabilities 0.8 (is 0), 0.4 (is 0),
  // 1.0 (is 0), 0.5 (not): (0, .5] {0.4, 0.5}: |1 - 0.9|; (.5, 1] {0.8,
  // 1}: |2 - 1.8|. Class 1: 0.2 (not), 0.6 (not), 0 (not), 0.5 (is):
  // (0, .5] {0.2, 0, 0.5}: |1 - 0.7|; (.5, 1] {0.6}: |0 - 0.6|.
  const double class0 = (0.1 + 0.2) / 4, class1 = (0.3 + 0.6) / 4;
  EXPECT_NEAR(run("classwise_ece", four(), kLabels, 2), (class0 + class1) / 2,
              1e-12);
}

TEST(Top5, CountsLabelsAmongTheFiveMostProbable) {
  // Seven classes; example 0's label is the 5th most probable, example
  // 1's the 6th.
  auto p = torch::tensor({0.30, 0.25, 0.15, 0.10, 0.08, 0.07, 0.05, 0.30, 0.25,
                          0.15, 0.10, 0.08, 0.07, 0.05},
                         torch::kDouble)
               .view({2, 7});
  EXPECT_DOUBLE_EQ(run("top5", p, {4, 5}), 0.5);
  // With 5 classes or fewer it is undefined: null, not a trivial 1.
  EXPECT_TRUE(std::isnan(run("top5", four(), kLabels)));
}

TEST(Reliability, ReportsCountConfidenceAndAccuracyPerBin) {
  auto m = make("reliability", 4);
  m->update(four().log(), torch::tensor(kLabels, torch::kLong));
  auto s = m->series();
  // Bins (0,.25], (.25,.5], (.5,.75], (.75,1]: 0.5 | 0.6 | 0.8, 1.0.
  EXPECT_EQ(s.at("count"), (std::vector<double>{0, 1, 1, 2}));
  EXPECT_TRUE(std::isnan(s.at("confidence")[0]));  // empty, not 0
  EXPECT_DOUBLE_EQ(s.at("confidence")[3], 0.9);
  EXPECT_DOUBLE_EQ(s.at("accuracy")[3], 1.0);
  EXPECT_DOUBLE_EQ(s.at("accuracy")[1], 0.0);
  EXPECT_EQ(s.at("upper"), (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
  // No value of its own (the ece metric has it): no table column.
  EXPECT_FALSE(m->scalar());
  EXPECT_TRUE(std::isnan(m->value()));
}

TEST(CalibrationMetrics, SingleClassIsPerfectlyCalibrated) {
  auto p = torch::ones({3, 1}, torch::kDouble);
  for (const char* name : {"mce", "adaptive_ece", "classwise_ece"}) {
    EXPECT_DOUBLE_EQ(run(name, p, {0, 0, 0}), 0.0) << name;
  }
}

// Direct implementations, one loop per definition, for random inputs.
struct Example {
  double confidence;
  bool hit;
};

double direct_mce(const std::vector<Example>& ex, int bins) {
  double worst = 0;
  for (int b = 0; b < bins; ++b) {
    double n = 0, conf = 0, hits = 0;
    for (const auto& e : ex) {
      int bin = e.confidence <= 0
                    ? 0
                    : static_cast<int>(std::ceil(e.confidence * bins)) - 1;
      if (bin == b) {
        ++n;
        conf += e.confidence;
        hits += e.hit;
      }
    }
    if (n > 0) worst = std::max(worst, std::abs(hits / n - conf / n));
  }
  return worst;
}

double direct_adaptive(std::vector<Example> ex, int bins) {
  std::stable_sort(ex.begin(), ex.end(), [](const auto& a, const auto& b) {
    return a.confidence < b.confidence;
  });
  const auto n = static_cast<std::int64_t>(ex.size());
  double total = 0;
  for (std::int64_t b = 0; b < bins; ++b) {
    double conf = 0, hits = 0;
    for (std::int64_t i = b * n / bins; i < (b + 1) * n / bins; ++i) {
      conf += ex[i].confidence;
      hits += ex[i].hit;
    }
    total += std::abs(hits - conf);
  }
  return total / static_cast<double>(n);
}

TEST(CalibrationMetrics, AgreeWithDirectImplementationsOnRandomInputs) {
  torch::manual_seed(7);
  // Bin edges at multiples of 1/8 are exact in binary, and random
  // confidences avoid them, so ceil() agrees with the edge search.
  const int bins = 8;
  auto logits = torch::randn({500, 10}, torch::kDouble) * 3;
  auto p = torch::softmax(logits, 1);
  auto y = torch::randint(10, {500}, torch::kLong);
  std::vector<std::int64_t> labels(y.data_ptr<std::int64_t>(),
                                   y.data_ptr<std::int64_t>() + 500);
  auto [top, predicted] = p.max(1);
  std::vector<Example> ex;
  for (int i = 0; i < 500; ++i) {
    ex.push_back({top[i].item<double>(),
                  predicted[i].item<std::int64_t>() == labels[i]});
  }
  EXPECT_NEAR(run("mce", p, labels, bins), direct_mce(ex, bins), 1e-12);
  EXPECT_NEAR(run("adaptive_ece", p, labels, bins), direct_adaptive(ex, bins),
              1e-12);
}

}  // namespace
}  // namespace cigl
