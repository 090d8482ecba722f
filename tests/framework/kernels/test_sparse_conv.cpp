// The sparse Conv2d kernel against LibTorch's conv2d in float64 with the
// weight multiplied by its mask: values and all gradients, for every build
// of the inner loops this CPU runs, on kernels of several sizes (square
// and not), paddings, odd image sizes, densities (an output channel
// without entries, one fully dense, density 1) and batch sizes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/sparse_ops.hpp"

namespace cigl::kernels {
namespace {

std::vector<std::string> builds() {
  std::vector<std::string> out{"portable"};
  const std::string before = instruction_set();
  if (use_instruction_set("avx2")) out.push_back("avx2");
  use_instruction_set(before);
  return out;
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want,
                  const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const auto g = got.to(torch::kDouble), w = want.to(torch::kDouble);
  const double scale = std::max(1.0, w.abs().max().item<double>());
  EXPECT_LT((g - w).abs().max().item<double>(), 2e-5 * scale) << what;
}

torch::Tensor dense_of(const torch::Tensor& t) {
  return t.is_sparse() ? t.to_dense() : t;
}

struct Case {
  std::int64_t batch, in, out, height, width, kh, kw, ph, pw;
  double density;
};

void check(const Case& c, const std::string& isa, std::uint64_t seed) {
  SCOPED_TRACE(isa + " batch " + std::to_string(c.batch) + " " +
               std::to_string(c.in) + "->" + std::to_string(c.out) + " " +
               std::to_string(c.height) + "x" + std::to_string(c.width) +
               " kernel " + std::to_string(c.kh) + "x" + std::to_string(c.kw) +
               " padding " + std::to_string(c.ph) + "," + std::to_string(c.pw) +
               " density " + std::to_string(c.density));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto mask = torch::rand({c.out, c.in, c.kh, c.kw}, gen) < c.density;
  if (c.out >= 3 && c.density > 0 && c.density < 1) {
    mask[0].fill_(false);
    mask[1].fill_(true);
  }
  auto w = torch::randn({c.out, c.in, c.kh, c.kw}, gen).requires_grad_();
  auto b = torch::randn({c.out}, gen).requires_grad_();
  auto x =
      torch::randn({c.batch, c.in, c.height, c.width}, gen).requires_grad_();

  const std::string before = instruction_set();
  ASSERT_TRUE(use_instruction_set(isa));
  auto y = sparse_conv2d(x, w, b, c10::make_intrusive<CompressedMask>(mask),
                         {c.ph, c.pw});
  auto gy = torch::randn(y.sizes(), gen);
  y.backward(gy);
  use_instruction_set(before);

  auto xd = x.detach().to(torch::kDouble).requires_grad_();
  auto wd = (w.detach() * mask).to(torch::kDouble).requires_grad_();
  auto bd = b.detach().to(torch::kDouble).requires_grad_();
  auto yd = torch::conv2d(xd, wd, bd, 1, {c.ph, c.pw});
  yd.backward(gy.to(torch::kDouble));
  expect_close(y, yd, "output");
  expect_close(x.grad(), xd.grad(), "input gradient");
  expect_close(dense_of(w.grad()), wd.grad() * mask, "weight gradient");
  expect_close(b.grad(), bd.grad(), "bias gradient");
}

TEST(SparseConv2d, MatchesTheMaskedDenseConvolution) {
  const std::vector<Case> cases = {
      // LeNet-5's two convolutions.
      {4, 1, 6, 28, 28, 5, 5, 2, 2, 0.7}, {3, 6, 16, 14, 14, 5, 5, 0, 0, 0.1},
      {1, 3, 8, 9, 11, 3, 3, 1, 1, 0.3},  {5, 2, 4, 7, 7, 1, 1, 0, 0, 0.5},
      {2, 4, 5, 10, 6, 3, 5, 0, 2, 0.4},  {7, 3, 3, 5, 5, 3, 3, 1, 1, 1.0},
      {2, 3, 4, 6, 6, 3, 3, 1, 1, 0.0},   {17, 2, 3, 8, 8, 3, 3, 0, 0, 0.2},
      {2, 1, 2, 4, 4, 4, 4, 0, 0, 0.6},  // output 1x1
  };
  std::uint64_t seed = 100;
  for (const auto& isa : builds()) {
    for (const auto& c : cases) check(c, isa, seed++);
  }
}

TEST(SparseConv2d, WithoutBiasOrInputGradient) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto mask = torch::rand({4, 2, 3, 3}, gen) < 0.5;
  auto w = torch::randn({4, 2, 3, 3}, gen).requires_grad_();
  auto x = torch::randn({3, 2, 6, 5}, gen);
  auto y = sparse_conv2d(x, w, torch::Tensor(),
                         c10::make_intrusive<CompressedMask>(mask), {1, 0});
  y.sum().backward();
  auto wd = (w.detach() * mask).to(torch::kDouble).requires_grad_();
  auto yd = torch::conv2d(x.to(torch::kDouble), wd, {}, 1, {1, 0});
  yd.sum().backward();
  expect_close(y, yd, "output");
  expect_close(dense_of(w.grad()), wd.grad() * mask, "weight gradient");
}

TEST(SparseConv2d, WeightGradientDoesNotDependOnTheThreadCount) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  auto mask = torch::rand({6, 3, 3, 3}, gen) < 0.5;
  auto x = torch::randn({33, 3, 8, 8}, gen);
  auto grad_with = [&](int threads) {
    const int before = torch::get_num_threads();
    torch::set_num_threads(threads);
    auto w = torch::ones({6, 3, 3, 3}).requires_grad_();
    sparse_conv2d(x, w, torch::Tensor(),
                  c10::make_intrusive<CompressedMask>(mask), {1, 1})
        .square()
        .sum()
        .backward();
    torch::set_num_threads(before);
    return dense_of(w.grad());
  };
  EXPECT_TRUE(torch::equal(grad_with(1), grad_with(2)));
}

}  // namespace
}  // namespace cigl::kernels
