// cigl/random.hpp: Bernoulli masks drawn from a sampler's own generator,
// or from a method's (bernoulli_dropped).
// Checked against the binomial distribution's closed-form mean and
// variance, seeds, and state restored exactly. The same checks run on
// CUDA in test_cuda.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <torch/torch.h>

#include "cigl/error.hpp"
#include "cigl/random.hpp"

namespace cigl {
namespace {

// |count - n p| within 6 standard deviations of Binomial(n, p): a false
// failure has probability about 2e-9.
void expect_binomial(std::int64_t count, std::int64_t n, double p) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(mean * (1 - p));
  EXPECT_LE(std::abs(static_cast<double>(count) - mean), 6 * sd)
      << count << " of " << n << " at p = " << p;
}

TEST(BernoulliSampler, KeepMaskKeepsWithinTheMaskAtTheRightRate) {
  BernoulliSampler sampler(torch::kCPU, 7);
  // A mask with every third entry active.
  auto mask = (torch::arange(300000) % 3 == 0).view({600, 500});
  const std::int64_t active = 100000;
  for (double keep : {0.99, 0.9, 0.5}) {
    auto kept = sampler.keep_mask(mask, keep);
    EXPECT_EQ(kept.scalar_type(), torch::kBool);
    EXPECT_EQ(kept.sizes(), mask.sizes());
    // Nothing outside the mask is kept.
    EXPECT_EQ(kept.logical_and(mask.logical_not()).sum().item<std::int64_t>(),
              0);
    expect_binomial(kept.sum().item<std::int64_t>(), active, keep);
  }
}

TEST(BernoulliSampler, DroppedAreDistinctCandidatesAtTheRightRate) {
  BernoulliSampler sampler(torch::kCPU, 3);
  // Candidates: the odd numbers below 2e5.
  auto candidates = torch::arange(1, 200000, 2);
  const std::int64_t n = candidates.numel();
  std::int64_t total = 0, low_half = 0;
  for (int round = 0; round < 20; ++round) {
    auto dropped = sampler.dropped(candidates, 0.01);
    EXPECT_EQ(dropped.scalar_type(), torch::kLong);
    auto values = dropped.accessor<std::int64_t, 1>();
    std::set<std::int64_t> seen;
    for (std::int64_t i = 0; i < dropped.numel(); ++i) {
      ASSERT_EQ(values[i] % 2, 1) << "not a candidate: " << values[i];
      ASSERT_TRUE(seen.insert(values[i]).second) << "twice: " << values[i];
      if (values[i] < 100000) ++low_half;
    }
    total += dropped.numel();
  }
  expect_binomial(total, 20 * n, 0.01);
  // Uniform over positions: half of the candidates lie below 1e5.
  expect_binomial(low_half, total, 0.5);
}

TEST(BernoulliSampler, SameSeedSameMasksOtherSeedOthers) {
  auto mask = torch::ones({1000}, torch::kBool);
  auto candidates = torch::arange(5000);
  BernoulliSampler a(torch::kCPU, 11), b(torch::kCPU, 11), c(torch::kCPU, 12);
  auto ka = a.keep_mask(mask, 0.5), kb = b.keep_mask(mask, 0.5),
       kc = c.keep_mask(mask, 0.5);
  EXPECT_TRUE(torch::equal(ka, kb));
  EXPECT_FALSE(torch::equal(ka, kc));
  EXPECT_TRUE(
      torch::equal(a.dropped(candidates, 0.1), b.dropped(candidates, 0.1)));
}

TEST(BernoulliSampler, StateRestoresTheSequenceExactly) {
  auto mask = torch::ones({4096}, torch::kBool);
  auto candidates = torch::arange(4096);
  BernoulliSampler sampler(torch::kCPU, 5);
  sampler.keep_mask(mask, 0.9);  // advance past the start

  // Through get_state/set_state...
  auto state = sampler.get_state();
  auto first = sampler.keep_mask(mask, 0.9);
  auto first_dropped = sampler.dropped(candidates, 0.05);
  sampler.set_state(state);
  EXPECT_TRUE(torch::equal(sampler.keep_mask(mask, 0.9), first));
  EXPECT_TRUE(torch::equal(sampler.dropped(candidates, 0.05), first_dropped));

  // ... and through an archive, into another sampler, as a resume does.
  sampler.set_state(state);
  torch::serialize::OutputArchive out;
  sampler.save(out, "sampler");
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  BernoulliSampler resumed(torch::kCPU, 999);
  resumed.load(in, "sampler");
  EXPECT_TRUE(torch::equal(resumed.keep_mask(mask, 0.9), first));
  EXPECT_TRUE(torch::equal(resumed.dropped(candidates, 0.05), first_dropped));
}

TEST(BernoulliSampler, ExtremeProbabilitiesAndBadArguments) {
  BernoulliSampler sampler(torch::kCPU, 1);
  auto mask = torch::ones({100}, torch::kBool);
  EXPECT_EQ(sampler.keep_mask(mask, 1.0).sum().item<std::int64_t>(), 100);
  EXPECT_EQ(sampler.keep_mask(mask, 0.0).sum().item<std::int64_t>(), 0);
  EXPECT_EQ(sampler.dropped(torch::arange(100), 0.0).numel(), 0);
  EXPECT_EQ(sampler.dropped(torch::arange(100), 1.0).numel(), 100);
  EXPECT_THROW(sampler.keep_mask(mask, 1.5), Error);
  EXPECT_THROW(sampler.keep_mask(torch::ones({3}), 0.5), Error);  // not bool
  EXPECT_THROW(sampler.dropped(torch::arange(10).view({2, 5}), 0.5), Error);
}

TEST(BernoulliDropped, DrawsFromTheGivenGeneratorAndOnlyFromIt) {
  // A method draws from its own checkpointed generator: restoring that
  // generator's state repeats the mask, and LibTorch's default generator
  // plays no part.
  torch::manual_seed(0);
  auto generator = make_generator(torch::kCPU, 7);
  const auto candidates = torch::arange(1000, 3000);
  const auto state = generator.get_state();
  const auto first = bernoulli_dropped(candidates, 0.1, generator);
  EXPECT_FALSE(torch::equal(generator.get_state(), state)) << "it advanced";
  torch::manual_seed(123);
  generator.set_state(state);
  EXPECT_TRUE(
      torch::equal(bernoulli_dropped(candidates, 0.1, generator), first));
  // Drawn from the candidates, each at most once, about 10% of them.
  EXPECT_TRUE(torch::isin(first, candidates).all().item<bool>());
  EXPECT_EQ(std::get<0>(torch::_unique(first)).numel(), first.numel());
  expect_binomial(first.numel(), 2000, 0.1);
  EXPECT_THROW(bernoulli_dropped(candidates, -0.1, generator), Error);
}

TEST(MakeGenerator, CpuGeneratorsAreIndependentOfTheDefaultOne) {
  auto g1 = make_generator(torch::kCPU, 42);
  auto a = torch::rand({8}, g1);
  torch::manual_seed(0);
  torch::rand({100});  // the default generator moves; g2 must not care
  auto g2 = make_generator(torch::kCPU, 42);
  EXPECT_TRUE(torch::equal(torch::rand({8}, g2), a));
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(make_generator(torch::Device(torch::kCUDA, 0), 1), Error);
  }
}

}  // namespace
}  // namespace cigl
