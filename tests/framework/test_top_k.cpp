// smallest_among / largest_among (framework/src/top_k.cpp) against a
// plain sort inside the test: the same indices, ties to the lower index,
// for float, double and integer scores, heavy ties, signed zeros and NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "cigl/error.hpp"
#include "cigl/sparse.hpp"

namespace cigl {
namespace {

/// The first k of the entries where `among` holds, sorted by score (largest
/// or smallest first) and then by index: what the selection must return,
/// as ascending indices.
std::vector<std::int64_t> by_sorting(const torch::Tensor& scores,
                                     const torch::Tensor& among, std::int64_t k,
                                     bool largest) {
  const auto s = scores.reshape(-1).to(torch::kDouble).contiguous();
  const auto a = among.reshape(-1).to(torch::kBool).contiguous();
  // (rank, index): NaN above every number, then the value.
  struct Entry {
    bool nan;
    double value;
    std::int64_t index;
  };
  std::vector<Entry> entries;
  const double* sp = s.data_ptr<double>();
  const bool* ap = a.data_ptr<bool>();
  for (std::int64_t i = 0; i < s.numel(); ++i) {
    if (ap[i]) entries.push_back({std::isnan(sp[i]), sp[i], i});
  }
  // Wanted first, then by index.
  std::stable_sort(entries.begin(), entries.end(),
                   [largest](const Entry& x, const Entry& y) {
                     if (x.nan != y.nan) return largest ? x.nan : y.nan;
                     if (x.nan || x.value == y.value) return false;
                     return largest ? x.value > y.value : x.value < y.value;
                   });
  std::vector<std::int64_t> out;
  for (std::int64_t j = 0; j < k; ++j) out.push_back(entries[j].index);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> as_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kLong).contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

TEST(TopK, MatchesSortingWithHeavyTiesInEveryType) {
  torch::manual_seed(3);
  for (const auto type : {torch::kFloat, torch::kDouble, torch::kLong}) {
    // Five distinct values over 3000 entries: every threshold is a tie.
    const auto scores = torch::randint(0, 5, {60, 50}).to(type);
    const auto among = torch::rand({60, 50}) < 0.3;
    const auto available = among.sum().item<std::int64_t>();
    for (const std::int64_t k : {std::int64_t{0}, std::int64_t{1},
                                 std::int64_t{17}, available / 2, available}) {
      for (const bool largest : {true, false}) {
        const auto got = largest ? largest_among(scores, among, k)
                                 : smallest_among(scores, among, k);
        EXPECT_EQ(as_vector(got), by_sorting(scores, among, k, largest))
            << "type " << type << " k " << k << " largest " << largest;
      }
    }
  }
}

TEST(TopK, MatchesSortingOnALayerOfContinuousScores) {
  torch::manual_seed(4);
  // A 300 x 784 layer's |w| at density 0.1, with a block of exact zeros.
  auto scores = torch::randn({300, 784}).abs();
  scores.narrow(0, 0, 10).zero_();
  const auto active = torch::rand({300, 784}) < 0.1;
  const auto n_active = active.sum().item<std::int64_t>();
  for (const bool largest : {true, false}) {
    for (const auto& among : {active, active.logical_not()}) {
      const std::int64_t k = among.sum().item<std::int64_t>() * 3 / 10;
      const auto got = largest ? largest_among(scores, among, k)
                               : smallest_among(scores, among, k);
      EXPECT_EQ(as_vector(got), by_sorting(scores, among, k, largest))
          << "largest " << largest;
    }
  }
  // The transposed layer: indices into its row-major flattening.
  const auto t = scores.t(), ta = active.t();
  EXPECT_EQ(as_vector(smallest_among(t, ta, n_active / 4)),
            by_sorting(t, ta, n_active / 4, false));
}

TEST(TopK, SignedZerosTieAndNanIsTheLargest) {
  const auto all = torch::ones({4}, torch::kBool);
  // -0 and +0 are equal: the lower indices win.
  const auto zeros = torch::tensor({0.0F, -0.0F, 0.0F, 1.0F});
  EXPECT_EQ(as_vector(smallest_among(zeros, all, 2)),
            (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(as_vector(largest_among(zeros, all, 2)),
            (std::vector<std::int64_t>{0, 3}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto with_nan = torch::tensor({1.0F, nan, 3.0F, -nan});
  EXPECT_EQ(as_vector(largest_among(with_nan, all, 2)),
            (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(as_vector(largest_among(with_nan, all, 3)),
            (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(as_vector(smallest_among(with_nan, all, 2)),
            (std::vector<std::int64_t>{0, 2}));
}

TEST(TopK, InfinitiesAndNansAgainstSorting) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto scores = torch::tensor(
      {inf, -inf, nan, 0.0, -0.0, 2.0, inf, -inf, nan, -0.0, 1.0, -3.0});
  const auto among = torch::tensor({true, true, true, true, true, false, true,
                                    false, true, true, true, true});
  for (const bool largest : {true, false}) {
    for (std::int64_t k = 0; k <= 10; ++k) {
      const auto got = largest ? largest_among(scores, among, k)
                               : smallest_among(scores, among, k);
      EXPECT_EQ(as_vector(got), by_sorting(scores, among, k, largest))
          << "k " << k << " largest " << largest;
    }
  }
}

TEST(TopK, RefusesMoreThanTheSubsetHolds) {
  const auto scores = torch::arange(10, torch::kFloat);
  const auto among = scores.remainder(2).eq(0);
  EXPECT_EQ(as_vector(largest_among(scores, among, 5)),
            (std::vector<std::int64_t>{0, 2, 4, 6, 8}));
  EXPECT_THROW(largest_among(scores, among, 6), Error);
  EXPECT_THROW(smallest_among(scores, torch::zeros({10}, torch::kBool), 1),
               Error);
  EXPECT_EQ(smallest_among(scores, torch::zeros({10}, torch::kBool), 0).numel(),
            0);
}

}  // namespace
}  // namespace cigl
