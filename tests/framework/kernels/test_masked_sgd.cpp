// SGD on a weight's active entries against LibTorch's SGD on the whole
// weight, where inactive entries have zero weight, gradient and momentum:
// the same weights and momentum after several steps (first step
// included), for momentum with and without Nesterov, dampening, weight
// decay, and plain SGD; and read from compact gradient values, and with
// the momentum kept compact (one value per entry) too.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/sparse_ops.hpp"
#include "cigl/masking.hpp"

namespace cigl::kernels {
namespace {

struct Options {
  double momentum, dampening, weight_decay;
  bool nesterov, compact;
  bool compact_momentum = false;
};

void check(const Options& o, const std::string& isa) {
  SCOPED_TRACE(isa + " momentum " + std::to_string(o.momentum) +
               (o.nesterov ? " nesterov" : "") + " dampening " +
               std::to_string(o.dampening) + " decay " +
               std::to_string(o.weight_decay) + (o.compact ? " compact" : "") +
               (o.compact_momentum ? " compact momentum" : ""));
  const std::string before = instruction_set();
  ASSERT_TRUE(use_instruction_set(isa));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto mask = torch::rand({13, 29}, gen) < 0.3;
  const auto compressed = c10::make_intrusive<CompressedMask>(mask);
  auto reference = (torch::randn({13, 29}, gen) * mask).requires_grad_();
  auto ours = reference.detach().clone();
  torch::optim::SGD sgd({reference}, torch::optim::SGDOptions(0.1)
                                         .momentum(o.momentum)
                                         .dampening(o.dampening)
                                         .nesterov(o.nesterov)
                                         .weight_decay(o.weight_decay));
  SgdOptions so;
  so.lr = 0.1;
  so.momentum = o.momentum;
  so.dampening = o.dampening;
  so.weight_decay = o.weight_decay;
  so.nesterov = o.nesterov;
  auto buffer = o.compact_momentum ? torch::zeros({compressed->nnz()})
                                   : torch::zeros_like(ours);
  for (int step = 0; step < 4; ++step) {
    const auto grad = torch::randn({13, 29}, gen) * mask;
    reference.mutable_grad() = grad.clone();
    sgd.step();
    torch::Tensor values;
    if (o.compact) {
      values = grad.masked_select(mask);  // row-major: entry order
    }
    masked_sgd_step(*compressed, ours, grad, values, buffer, step == 0, so);
  }
  use_instruction_set(before);
  EXPECT_LT((ours - reference.detach()).abs().max().item<double>(), 1e-6);
  if (o.momentum != 0) {
    auto expected = momentum_buffer(sgd, reference);
    if (o.compact_momentum) expected = expected.masked_select(mask);
    EXPECT_LT((buffer - expected).abs().max().item<double>(), 1e-6);
  }
  EXPECT_EQ(ours.masked_select(mask.logical_not())
                .count_nonzero()
                .item<std::int64_t>(),
            0);
}

TEST(MaskedSgd, MatchesLibTorchSgdOnTheActiveEntries) {
  std::vector<std::string> builds{"portable"};
  const std::string before = instruction_set();
  if (use_instruction_set("avx2")) builds.push_back("avx2");
  use_instruction_set(before);
  for (const auto& isa : builds) {
    check({0.9, 0, 5e-4, true, false}, isa);
    check({0.9, 0, 5e-4, true, true}, isa);
    check({0.9, 0.1, 0.01, false, false}, isa);
    check({0, 0, 5e-4, false, false}, isa);
    check({0.5, 0, 0, false, true}, isa);
    check({0.9, 0, 5e-4, true, true, true}, isa);
    check({0.9, 0.1, 0.01, false, false, true}, isa);
  }
}

TEST(MaskedSgd, BumpsTheVersionsOfWhatItWrites) {
  const auto mask = torch::ones({2, 2}, torch::kBool);
  auto w = torch::ones({2, 2}), g = torch::ones({2, 2}),
       b = torch::zeros({2, 2});
  const auto wv = w._version(), bv = b._version();
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  masked_sgd_step(CompressedMask(mask), w, g, {}, b, true, o);
  EXPECT_GT(w._version(), wv);
  EXPECT_GT(b._version(), bv);
  EXPECT_TRUE(torch::allclose(w, torch::full({2, 2}, 0.9)));
}

}  // namespace
}  // namespace cigl::kernels
