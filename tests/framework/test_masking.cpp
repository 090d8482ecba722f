// MaskSet's versions and its vouched-for gradients: every way of changing
// a mask changes the version, and apply_to_gradients skips a gradient
// noted as masked only while it is the same, unchanged tensor on the same
// mask.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "cigl/masking.hpp"

namespace cigl {
namespace {

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
  torch::optim::SGD sgd(model->parameters(), 0.1);
  masks.replace(1, torch::zeros({2, 3}, torch::kBool), sgd);
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
