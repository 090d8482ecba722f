// Where the sparse layers' backward pass puts the weight gradient
// (WeightGradientOutput): into the caller's buffer, with the hook told the
// gradient and its values at the active entries, against the masked dense
// gradient written out by hand.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/sparse_ops.hpp"

namespace cigl::kernels {
namespace {

struct Seen {
  int calls = 0;
  torch::Tensor gradient, values;
};

WeightGradientOutput recording(Seen& seen, torch::Tensor buffer) {
  WeightGradientOutput out;
  out.buffer = std::move(buffer);
  out.hook = [&seen](const at::Tensor& gradient, const at::Tensor& values) {
    ++seen.calls;
    seen.gradient = gradient.clone();
    seen.values = values.clone();
  };
  return out;
}

TEST(WeightGradient, LinearWritesTheCallersBufferAndTellsTheHook) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto mask = torch::rand({6, 9}, gen) < 0.4;
  auto w = torch::randn({6, 9}, gen).requires_grad_();
  auto x = torch::randn({4, 9}, gen);
  auto gy = torch::randn({4, 6}, gen);
  auto buffer = torch::zeros({6, 9});
  Seen seen;
  sparse_linear(x, w, torch::Tensor(),
                c10::make_intrusive<CompressedMask>(mask),
                recording(seen, buffer))
      .backward(gy);

  const auto want = (gy.t().mm(x) * mask).to(torch::kDouble);
  ASSERT_EQ(seen.calls, 1);
  // The test keeps a reference to the buffer, so autograd copies it into
  // .grad instead of taking it; the buffer still holds what was written.
  EXPECT_TRUE(torch::allclose(buffer.to(torch::kDouble), want, 1e-5, 1e-5))
      << "the gradient is written into the buffer given";
  EXPECT_TRUE(
      torch::allclose(seen.gradient.to(torch::kDouble), want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(w.grad().to(torch::kDouble), want, 1e-5, 1e-5));
  // Values in entry order: the active entries row by row.
  EXPECT_TRUE(torch::allclose(seen.values.to(torch::kDouble),
                              want.masked_select(mask), 1e-5, 1e-5));
  EXPECT_EQ(
      seen.gradient.masked_select(mask.logical_not()).abs().max().item<float>(),
      0.0f)
      << "inactive entries are exact zeros";
}

TEST(WeightGradient, ConvWithoutABufferMakesAFreshGradient) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(12);
  const auto mask = torch::rand({3, 2, 3, 3}, gen) < 0.5;
  auto w = torch::randn({3, 2, 3, 3}, gen).requires_grad_();
  auto x = torch::randn({2, 2, 5, 5}, gen);
  Seen seen;
  sparse_conv2d(x, w, torch::Tensor(),
                c10::make_intrusive<CompressedMask>(mask), {1, 1},
                recording(seen, torch::Tensor()))
      .sum()
      .backward();

  // d(sum y)/dw of a zero-padded correlation: for each kernel position,
  // the sum of the input window it meets.
  auto reference = w.detach().mul(mask).requires_grad_();
  torch::conv2d(x, reference, {}, 1, 1).sum().backward();
  const auto want = (reference.grad() * mask).to(torch::kDouble);
  ASSERT_EQ(seen.calls, 1);
  EXPECT_TRUE(torch::allclose(w.grad().to(torch::kDouble), want, 1e-5, 1e-4));
  EXPECT_TRUE(torch::allclose(seen.values.to(torch::kDouble),
                              want.masked_select(mask), 1e-5, 1e-4));
}

}  // namespace
}  // namespace cigl::kernels
