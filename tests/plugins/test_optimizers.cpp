// The optimizer plugins against LibTorch's own optimizers and hand
// arithmetic: the same steps as SGD/Adam/AdamW on dense parameters, weight
// decay only where weight_decay_on says, pruned weights exactly zero
// through Adam's moments, and regrown ones starting from fresh state.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "cigl/masking.hpp"
#include "optimizer_support.hpp"

namespace cigl {
namespace {

/// Linear(6 -> 4) with bias: a 2-D weight and a 1-D bias.
struct Net : torch::nn::Module {
  Net() { fc = register_module("fc", torch::nn::Linear(6, 4)); }
  torch::nn::Linear fc{nullptr};
};

std::shared_ptr<Net> net(std::uint64_t seed) {
  torch::manual_seed(seed);
  return std::make_shared<Net>();
}

/// Sets the same pseudo-random gradient (a function of `step`) on both
/// models' parameters.
void set_gradients(Net& a, Net& b, int step) {
  torch::manual_seed(100 + step);
  for (auto* m : {&a, &b}) {
    torch::manual_seed(100 + step);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::randn_like(p);
  }
}

void expect_same_parameters(Net& a, Net& b, double rtol, double atol) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i], pb[i], rtol, atol))
        << i << ": " << (pa[i] - pb[i]).abs().max().item<double>();
  }
}

// With weight_decay_on = "all", sgd is LibTorch's SGD step for step.
TEST(SgdOptimizer, IsLibTorchSgd) {
  auto a = net(1), b = net(1);
  auto ours = test::make_optimizer("sgd", *a,
                                   {{"lr", 0.05},
                                    {"momentum", 0.9},
                                    {"weight_decay", 1e-3},
                                    {"weight_decay_on", std::string("all")}});
  torch::optim::SGD reference(
      b->parameters(),
      torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(
          1e-3));
  for (int step = 0; step < 5; ++step) {
    set_gradients(*a, *b, step);
    ours->step();
    reference.step();
  }
  for (std::size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(a->parameters()[i], b->parameters()[i]));
  }
}

// SGD without momentum and with zero gradients: one step is w - lr wd w,
// on the weights only with "weights" (the default), the bias too with
// "all".
TEST(SgdOptimizer, WeightDecayTouchesOnlyTheChosenParameters) {
  for (const std::string scope : {"weights", "all"}) {
    auto a = net(7);
    const auto w0 = a->fc->weight.detach().clone();
    const auto b0 = a->fc->bias.detach().clone();
    auto opt = test::make_optimizer("sgd", *a,
                                    {{"lr", 0.1},
                                     {"momentum", 0.0},
                                     {"nesterov", false},
                                     {"weight_decay", 0.5},
                                     {"weight_decay_on", scope}});
    for (auto& p : a->parameters()) p.mutable_grad() = torch::zeros_like(p);
    opt->step();
    EXPECT_TRUE(torch::allclose(a->fc->weight, w0 * 0.95, 1e-6, 1e-8))
        << scope;
    EXPECT_TRUE(torch::allclose(a->fc->bias, scope == "all" ? b0 * 0.95 : b0,
                                1e-6, 1e-8))
        << scope;
  }
}

class AdamFamily : public ::testing::TestWithParam<std::string> {};

// Adam and AdamW against LibTorch's Adam and AdamW on dense parameters.
TEST_P(AdamFamily, MatchesLibTorch) {
  const bool decoupled = GetParam() == "adamw";
  auto a = net(2), b = net(2);
  auto ours = test::make_optimizer(GetParam(), *a,
                                   {{"lr", 0.01},
                                    {"weight_decay", 0.1},
                                    {"weight_decay_on", std::string("all")}});
  std::unique_ptr<torch::optim::Optimizer> reference;
  if (decoupled) {
    reference = std::make_unique<torch::optim::AdamW>(
        b->parameters(), torch::optim::AdamWOptions(0.01).weight_decay(0.1));
  } else {
    reference = std::make_unique<torch::optim::Adam>(
        b->parameters(), torch::optim::AdamOptions(0.01).weight_decay(0.1));
  }
  for (int step = 0; step < 20; ++step) {
    set_gradients(*a, *b, step);
    ours->step();
    reference->step();
  }
  expect_same_parameters(*a, *b, 1e-5, 1e-6);
}

// Weight decay reaches the weights only with "weights" (the default), the
// bias too with "all". Zero gradients: only decay moves a parameter.
TEST_P(AdamFamily, WeightDecayTouchesOnlyTheChosenParameters) {
  for (const std::string scope : {"weights", "all"}) {
    auto a = net(3);
    const auto w0 = a->fc->weight.detach().clone();
    const auto b0 = a->fc->bias.detach().clone();
    auto opt = test::make_optimizer(
        GetParam(), *a,
        {{"lr", 0.1}, {"weight_decay", 0.5}, {"weight_decay_on", scope}});
    for (auto& p : a->parameters()) p.mutable_grad() = torch::zeros_like(p);
    opt->step();
    // AdamW: w (1 - lr wd). Adam: the gradient wd * w, and a first Adam
    // step moves each entry by lr * g / (|g| + eps) = lr * sign(w).
    auto decayed = [&](const torch::Tensor& w) {
      return GetParam() == "adamw" ? w * (1 - 0.1 * 0.5)
                                   : w - 0.1 * w / (w.abs() + 1e-8);
    };
    EXPECT_TRUE(torch::allclose(a->fc->weight, decayed(w0), 1e-5, 1e-7))
        << scope;
    if (scope == "weights") {
      EXPECT_TRUE(torch::equal(a->fc->bias, b0));
    } else {
      EXPECT_TRUE(torch::allclose(a->fc->bias, decayed(b0), 1e-5, 1e-7));
    }
  }
}

// Masked gradients and masked state keep pruned weights exactly zero over
// many steps, with weight decay on; a connection grown back starts from
// fresh state: zero moments, and its first step is the first step of a
// new Adam, lr * g / (|g| + eps), while the tensor has taken 30 steps.
TEST_P(AdamFamily, PrunedStayZeroAndRegrownStartFresh) {
  auto model = net(4);
  auto opt = test::make_optimizer(GetParam(), *model,
                                  {{"lr", 0.01}, {"weight_decay", 0.1}});
  MaskSet masks(*model);
  torch::manual_seed(5);
  const auto mask = torch::rand({4, 6}) < 0.5;
  masks.set_mask(0, mask);
  masks.apply_to_weights();
  const auto& w = model->fc->weight;
  for (int step = 0; step < 30; ++step) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
    masks.apply_to_gradients();
    opt->step();
    ASSERT_EQ(
        w.masked_select(mask.logical_not()).count_nonzero().item<int64_t>(), 0)
        << "step " << step;
  }
  for (const auto& state : test::optimizer_state(*opt, w)) {
    EXPECT_EQ(
        state.masked_select(mask.logical_not()).count_nonzero().item<int64_t>(),
        0);
  }
  // Grow every pruned connection, keep the others.
  masks.replace(0, torch::ones_like(mask), *opt);
  const auto grown = mask.logical_not();
  for (const auto& state : test::optimizer_state(*opt, w)) {
    EXPECT_EQ(state.masked_select(grown).count_nonzero().item<int64_t>(), 0);
    EXPECT_GT(state.masked_select(mask).count_nonzero().item<int64_t>(), 0);
  }
  const auto before = w.detach().clone();
  auto g = torch::randn_like(w);
  w.mutable_grad() = g.clone();
  model->fc->bias.mutable_grad() = torch::zeros_like(model->fc->bias);
  opt->step();
  // Grown weights are 0, so neither form of decay moves them.
  const auto fresh = -0.01 * g / (g.abs() + 1e-8);
  EXPECT_TRUE(torch::allclose((w - before).masked_select(grown),
                              fresh.masked_select(grown), 1e-5, 1e-8));
  // The kept ones are not at a first step.
  EXPECT_FALSE(torch::allclose((w - before).masked_select(mask),
                               fresh.masked_select(mask), 1e-3, 1e-6));
}

// The state survives save and load: the next steps are the same.
TEST_P(AdamFamily, StateSavesAndLoads) {
  auto a = net(6), b = net(6);
  auto first = test::make_optimizer(GetParam(), *a, {{"lr", 0.01}});
  MaskSet masks(*a);
  for (int step = 0; step < 3; ++step) {
    set_gradients(*a, *b, step);
    first->step();
  }
  masks.replace(0, torch::rand({4, 6}) < 0.5, *first);  // per-entry steps
  {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < a->parameters().size(); ++i) {
      b->parameters()[i].copy_(a->parameters()[i]);
    }
  }
  torch::serialize::OutputArchive out;
  first->save(out);
  std::stringstream buffer;
  out.save_to(buffer);
  auto second = test::make_optimizer(GetParam(), *b, {{"lr", 0.01}});
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  second->load(in);
  for (int step = 3; step < 6; ++step) {
    set_gradients(*a, *b, step);
    first->step();
    second->step();
  }
  for (std::size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(a->parameters()[i], b->parameters()[i])) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, AdamFamily,
                         ::testing::Values("adam", "adamw"));

}  // namespace
}  // namespace cigl
