// Masks over maskable weights (masking.cpp): which weights are maskable,
// exact counts, replacing a mask with its effect on weights and momentum,
// masking gradients, and saving and loading; versions and vouched-for
// gradients: every way of changing a mask changes its version, and
// apply_to_gradients skips a gradient noted as masked only while it is the
// same, unchanged tensor on the same mask.
#include <gtest/gtest.h>

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "optimizer_support.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

torch::nn::Sequential net() {
  return torch::nn::Sequential(torch::nn::Conv2d(1, 2, 3), torch::nn::ReLU(),
                               torch::nn::Flatten(), torch::nn::Linear(8, 3));
}

TEST(MaskableParameters, ConvAndLinearWeightsInOrderBiasesNot) {
  auto n = net();
  auto params = maskable_parameters(*n);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "0.weight");
  EXPECT_EQ(params[1].name, "3.weight");
  auto shapes = maskable_shapes(*n);
  EXPECT_EQ(shapes[0].shape, (std::vector<std::int64_t>{2, 1, 3, 3}));
  EXPECT_EQ(shapes[1].numel(), 24);
}

TEST(OnesForDensity, RoundsTheShareUpAsRigLDoes) {
  // zeros = floor(sparsity * size), the rest are ones.
  EXPECT_EQ(ones_for_density(1000, 0.1), 100);
  EXPECT_EQ(ones_for_density(10, 0.14), 2);   // floor(8.6) = 8 zeros
  EXPECT_EQ(ones_for_density(10, 0.16), 2);   // floor(8.4) = 8 zeros
  EXPECT_EQ(ones_for_density(10, 0.05), 1);   // floor(9.5) = 9 zeros
  EXPECT_EQ(ones_for_density(10, 0.001), 1);  // floor(9.99) = 9 zeros
  EXPECT_EQ(ones_for_density(10, 0.0), 0);
  EXPECT_EQ(ones_for_density(10, 1.0), 10);
}

TEST(MaskSet, RandomMaskHasTheExactCountPerLayer) {
  torch::nn::Sequential n(torch::nn::Linear(30, 20), torch::nn::ReLU(),
                          torch::nn::Linear(20, 7));
  MaskSet masks(*n);
  ASSERT_EQ(masks.size(), 2u);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  masks.randomize({0.25, 0.5}, generator);
  EXPECT_EQ(masks.active(0), 150);  // 600 * 0.25
  EXPECT_EQ(masks.active(1), 70);   // 140 * 0.5
  EXPECT_EQ(masks.total(), 740);
  EXPECT_DOUBLE_EQ(masks.density(), 220.0 / 740);
  EXPECT_EQ(masks.mask(0).dtype(), torch::kBool);
  masks.apply_to_weights();
  EXPECT_EQ(
      n[0]->as<torch::nn::Linear>()->weight.count_nonzero().item<int64_t>(),
      150);
  EXPECT_THROW(masks.randomize({0.5}, generator), Error);
}

TEST(MaskSet, ReplaceZeroesDroppedAndGrownButKeepsWhatStays) {
  torch::nn::Linear layer(4, 1);
  torch::NoGradGuard no_grad;
  layer->weight.copy_(torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}}));
  auto sgd =
      test::make_optimizer("sgd", *layer, {{"lr", 0.1}, {"momentum", 0.9}});
  MaskSet masks(*layer);
  masks.set_mask(0, torch::tensor({{true, true, false, false}}));
  // One SGD step creates the momentum buffer.
  {
    torch::AutoGradMode grad(true);
    layer->zero_grad();
    layer->weight.mul(torch::ones({1, 4})).sum().backward();
  }
  sgd->step();
  auto momentum = sgd->momentum(layer->weight);
  ASSERT_TRUE(momentum.defined());
  momentum.fill_(7);
  layer->weight.copy_(torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}}));
  // Keep 0, drop 1, grow 2; 3 stays inactive.
  masks.replace(0, torch::tensor({{true, false, true, false}}), *sgd);
  EXPECT_TRUE(layer->weight.equal(torch::tensor({{1.0f, 0.0f, 0.0f, 4.0f}})));
  EXPECT_TRUE(momentum.equal(torch::tensor({{7.0f, 0.0f, 0.0f, 7.0f}})));
  // Without resetting momentum (SNFS), a grown connection keeps its own.
  momentum.fill_(7);
  masks.replace(0, torch::tensor({{true, false, false, true}}), *sgd, false);
  EXPECT_TRUE(momentum.equal(torch::tensor({{7.0f, 7.0f, 0.0f, 7.0f}})));
  EXPECT_EQ(masks.active(0), 2);
}

TEST(MaskSet, GradientsOfInactiveWeightsAreZeroed) {
  torch::nn::Linear layer(3, 1);
  MaskSet masks(*layer);
  masks.set_mask(0, torch::tensor({{true, false, true}}));
  layer->weight.mul(torch::full({1, 3}, 2.0f)).sum().backward();
  masks.apply_to_gradients();
  EXPECT_TRUE(layer->weight.grad().equal(torch::tensor({{2.0f, 0.0f, 2.0f}})));
  EXPECT_THROW(masks.set_mask(0, torch::ones({3, 1}, torch::kBool)), Error);
}

TEST(MaskSet, SavesAndLoadsAndRefusesAnotherShape) {
  test::TempDir dir("masking");
  torch::nn::Linear layer(3, 2);
  MaskSet masks(*layer);
  auto saved = torch::tensor({{true, false, true}, {false, false, true}});
  masks.set_mask(0, saved);
  {
    torch::serialize::OutputArchive out;
    masks.save(out);
    out.save_to(dir.file("m.pt"));
  }
  MaskSet again(*layer);
  torch::serialize::InputArchive in;
  in.load_from(dir.file("m.pt"));
  again.load(in);
  EXPECT_TRUE(again.mask(0).equal(saved));

  torch::nn::Linear other(2, 2);  // another shape, the same name
  MaskSet wrong(*other);
  torch::serialize::InputArchive in2;
  in2.load_from(dir.file("m.pt"));
  EXPECT_THROW(wrong.load(in2), Error);
}

torch::nn::Sequential two_layers() {
  return torch::nn::Sequential(torch::nn::Linear(4, 3),
                               torch::nn::Linear(3, 2));
}

TEST(MaskSet, EveryMaskChangeChangesTheVersion) {
  auto model = two_layers();
  MaskSet masks(*model);
  std::vector<std::uint64_t> seen{masks.version(0), masks.version(1)};
  EXPECT_NE(seen[0], seen[1]);
  auto fresh = [&](std::size_t i) {
    const auto v = masks.version(i);
    const bool is_new = std::find(seen.begin(), seen.end(), v) == seen.end();
    seen.push_back(v);
    return is_new;
  };
  masks.set_mask(0, torch::ones({3, 4}, torch::kBool));
  EXPECT_TRUE(fresh(0)) << "set_mask, even to the same mask";
  auto sgd = test::make_optimizer("sgd", *model);
  masks.replace(1, torch::zeros({2, 3}, torch::kBool), *sgd);
  EXPECT_TRUE(fresh(1)) << "replace";
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  masks.randomize({0.5, 0.5}, gen);
  EXPECT_TRUE(fresh(0)) << "randomize";
  EXPECT_TRUE(fresh(1));
  torch::serialize::OutputArchive out;
  masks.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  masks.load(in);
  EXPECT_TRUE(fresh(0)) << "load";
  // Another MaskSet of the same model never repeats a version.
  MaskSet other(*model);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), other.version(0)), 0);
}

TEST(MaskSet, SkipsOnlyAnUnchangedVouchedGradient) {
  auto model = two_layers();
  MaskSet masks(*model);
  auto mask = torch::tensor({1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0}, torch::kBool)
                  .view({3, 4});
  masks.set_mask(0, mask);
  const auto& w = masks.weight(0);
  auto masked_count = [&] {
    return w.grad()
        .masked_select(mask.logical_not())
        .count_nonzero()
        .item<std::int64_t>();
  };
  // A gradient vouched for is left alone (here it is not in fact masked,
  // which shows the skip).
  w.mutable_grad() = torch::ones({3, 4});
  masks.note_masked_gradient(0, w.grad());
  masks.apply_to_gradients();
  EXPECT_EQ(masked_count(), 7) << "skipped";
  // Changed since: masked again.
  w.mutable_grad().add_(1);
  masks.apply_to_gradients();
  EXPECT_EQ(masked_count(), 0);
  // Another tensor: masked.
  w.mutable_grad() = torch::ones({3, 4});
  masks.apply_to_gradients();
  EXPECT_EQ(masked_count(), 0);
  // The mask changed since the note: masked with the new mask.
  w.mutable_grad() = torch::ones({3, 4});
  masks.note_masked_gradient(0, w.grad());
  masks.set_mask(0, mask);
  masks.apply_to_gradients();
  EXPECT_EQ(masked_count(), 0);
}

}  // namespace
}  // namespace cigl
