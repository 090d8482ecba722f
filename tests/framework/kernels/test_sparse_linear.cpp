// The sparse Linear kernel against the dense computation written out in
// float64 with the weight multiplied by its mask: values, input, weight
// and bias gradients, for every build of the inner loops this CPU runs, on
// random shapes, densities (empty rows, a fully dense row, density 1 and
// 0) and batch sizes (1, odd, and past the 64-wide register tile).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/sparse_ops.hpp"

namespace cigl::kernels {
namespace {

/// The builds to test: portable always, AVX2 where the CPU has it.
std::vector<std::string> builds() {
  std::vector<std::string> out{"portable"};
  const std::string before = instruction_set();
  if (use_instruction_set("avx2")) out.push_back("avx2");
  use_instruction_set(before);
  return out;
}

struct BuildGuard {
  explicit BuildGuard(const std::string& isa) : before(instruction_set()) {
    EXPECT_TRUE(use_instruction_set(isa));
  }
  ~BuildGuard() { use_instruction_set(before); }
  std::string before;
};

void expect_close(const torch::Tensor& got, const torch::Tensor& want,
                  const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const auto g = got.to(torch::kDouble), w = want.to(torch::kDouble);
  const double scale = std::max(1.0, w.abs().max().item<double>());
  const double error = (g - w).abs().max().item<double>();
  EXPECT_LT(error, 2e-5 * scale) << what;
}

torch::Tensor dense_of(const torch::Tensor& t) {
  return t.is_sparse() ? t.to_dense() : t;
}

struct Case {
  std::int64_t out, in, batch;
  double density;
};

/// A random mask with row 0 empty and row 1 full (where there are rows
/// enough), the rest at `density`.
torch::Tensor make_mask(std::int64_t out, std::int64_t in, double density,
                        torch::Generator& gen) {
  auto mask = torch::rand({out, in}, gen) < density;
  if (out >= 3 && density > 0 && density < 1) {
    mask[0].fill_(false);
    mask[1].fill_(true);
  }
  return mask;
}

void check(const Case& c, const std::string& isa, std::uint64_t seed) {
  SCOPED_TRACE(isa + " out " + std::to_string(c.out) + " in " +
               std::to_string(c.in) + " batch " + std::to_string(c.batch) +
               " density " + std::to_string(c.density));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto mask = make_mask(c.out, c.in, c.density, gen);
  // Inactive weights are not zero: the kernel must ignore them.
  auto w = torch::randn({c.out, c.in}, gen).requires_grad_();
  auto b = torch::randn({c.out}, gen).requires_grad_();
  auto x = torch::randn({c.batch, c.in}, gen).requires_grad_();
  auto gy = torch::randn({c.batch, c.out}, gen);

  BuildGuard build(isa);
  auto y = sparse_linear(x, w, b, c10::make_intrusive<CompressedMask>(mask));
  y.backward(gy);

  // The reference, by hand in float64.
  const auto m = mask.to(torch::kDouble);
  const auto wm = w.detach().to(torch::kDouble) * m;
  const auto xd = x.detach().to(torch::kDouble);
  const auto gd = gy.to(torch::kDouble);
  expect_close(y, xd.mm(wm.t()) + b.detach().to(torch::kDouble), "output");
  expect_close(x.grad(), gd.mm(wm), "input gradient");
  ASSERT_TRUE(w.grad().defined());
  expect_close(dense_of(w.grad()), gd.t().mm(xd) * m, "weight gradient");
  expect_close(b.grad(), gd.sum(0), "bias gradient");
}

TEST(SparseLinear, MatchesTheMaskedDenseLayer) {
  const std::vector<Case> cases = {
      {5, 7, 1, 0.5},     {16, 33, 3, 0.3},    {30, 20, 7, 0.1},
      {12, 64, 64, 0.05}, {9, 17, 65, 0.5},    {40, 100, 130, 0.2},
      {8, 8, 13, 1.0},    {6, 10, 9, 0.0},     {1, 300, 128, 0.1},
      {300, 1, 17, 0.7},  {10, 784, 200, 0.02}};
  std::uint64_t seed = 1;
  for (const auto& isa : builds()) {
    for (const auto& c : cases) check(c, isa, seed++);
  }
}

TEST(SparseLinear, WithoutBiasAndWithoutInputGradient) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto mask = torch::rand({11, 23}, gen) < 0.4;
  auto w = torch::randn({11, 23}, gen).requires_grad_();
  auto x = torch::randn({5, 23}, gen);  // data: no gradient wanted
  auto y = sparse_linear(x, w, torch::Tensor(),
                         c10::make_intrusive<CompressedMask>(mask));
  y.sum().backward();
  const auto m = mask.to(torch::kDouble);
  expect_close(y,
               x.to(torch::kDouble).mm((w.detach().to(torch::kDouble) * m).t()),
               "output");
  expect_close(
      dense_of(w.grad()),
      torch::ones({5, 11}, torch::kDouble).t().mm(x.to(torch::kDouble)) * m,
      "weight gradient");
}

TEST(SparseLinear, ChainsInTheFeatureMajorLayoutAndAccumulatesIntoDenseGrad) {
  // Two sparse layers with a ReLU between: the second takes the first's
  // feature-major output as it is; the weight gradient is added to an
  // existing dense .grad, as the trainer's zeroed gradients are.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto m1 = torch::rand({20, 12}, gen) < 0.3;
  const auto m2 = torch::rand({4, 20}, gen) < 0.5;
  auto w1 = torch::randn({20, 12}, gen).requires_grad_();
  auto w2 = torch::randn({4, 20}, gen).requires_grad_();
  w1.mutable_grad() = torch::full({20, 12}, 0.5);
  auto x = torch::randn({9, 12}, gen);
  auto h = torch::relu(sparse_linear(x, w1, torch::Tensor(),
                                     c10::make_intrusive<CompressedMask>(m1)));
  EXPECT_EQ(h.stride(0), 1) << "the ReLU keeps the feature-major layout";
  auto y = sparse_linear(h, w2, torch::Tensor(),
                         c10::make_intrusive<CompressedMask>(m2));
  y.square().sum().backward();

  auto v1 = (w1.detach() * m1).clone().requires_grad_();
  auto v2 = (w2.detach() * m2).clone().requires_grad_();
  torch::relu(x.mm(v1.t())).mm(v2.t()).square().sum().backward();
  expect_close(y, torch::relu(x.mm(v1.t())).mm(v2.t()), "output");
  expect_close(w1.grad(), v1.grad() * m1 + 0.5, "accumulated gradient");
  EXPECT_EQ(w1.grad().layout(), torch::kStrided);
  expect_close(dense_of(w2.grad()), v2.grad() * m2, "second gradient");
}

TEST(SparseLinear, WritesTheWeightGradientIntoTheGivenBuffer) {
  // A recycled buffer holds last step's gradient at this mask's entries and
  // zeros elsewhere: the backward pass must overwrite every entry (also
  // with an empty batch, whose gradient is zero), write nowhere else, and
  // hand autograd that very tensor; the hook gets it and the values in
  // entry order (row by row, columns increasing).
  for (const auto& isa : builds()) {
    for (const std::int64_t batch : {0, 5, 70}) {
      SCOPED_TRACE(isa + " batch " + std::to_string(batch));
      BuildGuard build(isa);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(11 + batch);
      const auto mask = make_mask(13, 37, 0.3, gen);
      auto w = torch::randn({13, 37}, gen).requires_grad_();
      auto x = torch::randn({batch, 37}, gen);
      auto gy = torch::randn({batch, 13}, gen);
      WeightGradientOutput out;
      out.buffer = torch::randn({13, 37}, gen) * mask;  // stale values
      const float* storage = out.buffer.data_ptr<float>();
      torch::Tensor told, told_values;
      out.hook = [&](const at::Tensor& g, const at::Tensor& v) {
        told = g.detach();  // not the tensor itself (see the hook's contract)
        told_values = v.clone();
      };
      // Two statements: sparse_linear's by-value argument (a reference to
      // the buffer) lives to the end of the full expression.
      auto y = sparse_linear(x, w, torch::Tensor(),
                             c10::make_intrusive<CompressedMask>(mask),
                             std::move(out));
      y.backward(gy);
      const auto want = gy.to(torch::kDouble).t().mm(x.to(torch::kDouble)) *
                        mask.to(torch::kDouble);
      ASSERT_TRUE(w.grad().defined());
      EXPECT_EQ(w.grad().data_ptr<float>(), storage)
          << "a copy, not the buffer";
      expect_close(w.grad(), want, "weight gradient");
      ASSERT_TRUE(told.defined());
      EXPECT_EQ(told.data_ptr<float>(), storage);
      expect_close(told_values, want.masked_select(mask), "values told");
    }
  }
}

}  // namespace
}  // namespace cigl::kernels
