// KernelRouting on a small model with the SDK's layers and one torch
// layer: which layers get kernels under off / on / auto, that a routed
// layer computes the masked dense layer, follows its MaskSet's changes,
// runs densely where a step needs dense gradients or a DenseKernelsGuard
// is alive, and lets go of the layers when detached or destroyed; and
// that the SGD momentum it keeps compact is what dense SGD has whenever
// the optimizer's state is read through StateSyncedOptimizer.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <optional>

#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/state_synced_optimizer.hpp"
#include "cigl/layers.hpp"
#include "cigl/masking.hpp"
#include "cigl/model.hpp"

namespace cigl {
namespace {

/// conv (1 -> 3, 3x3, padding 1) on 5x5, then Linear 75 -> 4 (the SDK's),
/// then a plain torch Linear 4 -> 2.
class Small : public Model {
 public:
  Small() {
    conv = register_module(
        "conv", nn::Conv2d(torch::nn::Conv2dOptions(1, 3, 3).padding(1)));
    fc = register_module("fc", nn::Linear(75, 4));
    head = register_module("head", torch::nn::Linear(4, 2));
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(conv->forward(x)).flatten(1);
    return head->forward(torch::relu(fc->forward(x)));
  }
  nn::Conv2d conv{nullptr};
  nn::Linear fc{nullptr};
  torch::nn::Linear head{nullptr};
};

struct Routed {
  std::shared_ptr<Small> model = std::make_shared<Small>();
  MaskSet masks{*model};
  torch::Tensor x;
  Routed() {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    masks.randomize({0.5, 0.3, 0.5}, gen);
    masks.apply_to_weights();
    x = torch::randn({6, 1, 5, 5}, gen);
  }
  KernelRouting route(KernelRouting::Setting s) {
    return KernelRouting(*model, &masks, s, {1, 5, 5}, 6, torch::kCPU);
  }
  /// Forward and backward; the gradients of conv and fc weights.
  std::pair<torch::Tensor, std::vector<torch::Tensor>> step() {
    model->zero_grad();
    auto y = model->forward(x);
    y.square().sum().backward();
    return {
        y.detach(),
        {model->conv->weight.grad().clone(), model->fc->weight.grad().clone()}};
  }
};

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(KernelRouting, OffAttachesNothingAndOnRoutesTheSdkLayers) {
  Routed s;
  const auto [dense_y, dense_grads] = s.step();
  {
    auto off = s.route(KernelRouting::Setting::off);
    EXPECT_FALSE(s.model->conv->kernel());
    ASSERT_EQ(off.choices().size(), 3u);
    EXPECT_EQ(off.choices()[0].reason, "off");
    EXPECT_TRUE(torch::equal(s.step().first, dense_y));
  }
  auto on = s.route(KernelRouting::Setting::on);
  const auto& c = on.choices();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].layer, "conv.weight");
  EXPECT_TRUE(c[0].sparse);
  EXPECT_TRUE(c[1].sparse);
  EXPECT_FALSE(c[2].sparse) << "torch::nn::Linear is not sparse-capable";
  EXPECT_NE(c[2].reason.find("not a sparse-capable layer"), std::string::npos);
  EXPECT_NEAR(c[1].density, 0.3, 0.01);
  EXPECT_NE(on.summary().find("fc.weight"), std::string::npos);

  const auto [y, grads] = s.step();
  EXPECT_LT(max_difference(y, dense_y), 1e-4);
  // The sparse kernels compute the gradient of active weights only.
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_LT(max_difference(grads[i], dense_grads[i] * s.masks.mask(i)), 1e-4);
    EXPECT_EQ(grads[i]
                  .masked_select(s.masks.mask(i).logical_not())
                  .count_nonzero()
                  .item<std::int64_t>(),
              0);
  }
}

TEST(KernelRouting, DenseStepsGuardAndDetachComputeDensely) {
  Routed s;
  auto on = s.route(KernelRouting::Setting::on);
  auto inactive_gradient = [&] {
    const auto grad = s.step().second[1];
    return grad.masked_select(s.masks.mask(1).logical_not())
        .count_nonzero()
        .item<std::int64_t>();
  };
  EXPECT_EQ(inactive_gradient(), 0);
  on.begin_step(/*dense_gradient=*/true);
  EXPECT_GT(inactive_gradient(), 0) << "a step that needs dense gradients";
  on.begin_step(false);
  EXPECT_EQ(inactive_gradient(), 0);
  {
    DenseKernelsGuard guard;
    EXPECT_GT(inactive_gradient(), 0);
  }
  on.detach();
  EXPECT_FALSE(s.model->fc->kernel());
  EXPECT_GT(inactive_gradient(), 0);
}

TEST(KernelRouting, FollowsTheMaskSetWhenAMaskChanges) {
  Routed s;
  auto on = s.route(KernelRouting::Setting::on);
  s.step();
  // A new mask for fc; its weights stay as they are (not masked): the
  // kernels must use the new mask's entries.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  torch::NoGradGuard no_grad;
  s.model->fc->weight.normal_(0, 0.1, gen);
  const auto mask = torch::rand({4, 75}, gen) < 0.2;
  const auto before = s.masks.version(1);
  s.masks.set_mask(1, mask);
  EXPECT_NE(s.masks.version(1), before);
  const auto y = s.model->forward(s.x);
  on.detach();
  const auto w = s.model->fc->weight.clone();
  s.model->fc->weight.mul_(mask);
  EXPECT_LT(max_difference(y, s.model->forward(s.x)), 1e-5);
  s.model->fc->weight.copy_(w);
}

/// LibTorch's SGD behind cigl's Optimizer interface, as the sgd plugin.
class TorchSgd : public Optimizer {
 public:
  explicit TorchSgd(std::vector<torch::Tensor> params)
      : sgd_(std::move(params), torch::optim::SGDOptions(0.05)
                                    .momentum(0.9)
                                    .nesterov(true)
                                    .weight_decay(5e-4)) {}
  double base_lr() const override { return 0.05; }
  void set_lr(double) override {}
  void zero_grad() override { sgd_.zero_grad(); }
  void step() override { sgd_.step(); }
  void for_each_state(const torch::Tensor& param,
                      const std::function<void(torch::Tensor&)>& fn) override {
    auto buffer = momentum(param);
    if (buffer.defined()) fn(buffer);
  }
  torch::Tensor momentum(const torch::Tensor& param) override {
    return momentum_buffer(sgd_, param);
  }
  torch::optim::Optimizer* torch_optimizer() override { return &sgd_; }
  void save(torch::serialize::OutputArchive& a) const override { sgd_.save(a); }
  void load(torch::serialize::InputArchive& a) override { sgd_.load(a); }

 private:
  torch::optim::SGD sgd_;
};

/// One copy of a masked model trained with SGD, its gradients masked as a
/// method does: routed "on" (the optimizer seen through
/// StateSyncedOptimizer), or dense.
struct SgdRun {
  Routed s;
  std::optional<KernelRouting> routing;
  std::shared_ptr<TorchSgd> inner;
  std::unique_ptr<StateSyncedOptimizer> synced;
  SgdRun(const Small& start, bool routed) {
    torch::NoGradGuard no_grad;
    const auto from = start.parameters();
    const auto to = s.model->parameters();
    for (std::size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
    inner = std::make_shared<TorchSgd>(s.model->parameters());
    if (routed) routing.emplace(s.route(KernelRouting::Setting::on));
    synced = std::make_unique<StateSyncedOptimizer>(
        inner,
        [this] {
          if (routing) routing->write_back_state();
        },
        [this] {
          if (routing) routing->forget_state();
        });
  }
  void step(bool dense_gradient) {
    if (routing) routing->begin_step(dense_gradient);
    inner->zero_grad();
    s.model->forward(s.x).square().mean().backward();
    s.masks.apply_to_gradients();  // head's: it runs densely
    if (routing) {
      routing->optimizer_step(*inner);
    } else {
      inner->step();
    }
  }
  torch::Tensor momentum(std::size_t layer) {
    return synced->momentum(s.masks.weight(layer));
  }
};

TEST(KernelRouting, MomentumReadThroughTheOptimizerIsDenseSgds) {
  const Routed start;  // the same masks and data in every Routed
  SgdRun sparse(*start.model, true), dense(*start.model, false);
  auto expect_same = [&](const std::string& when) {
    for (std::size_t i = 0; i < 2; ++i) {
      SCOPED_TRACE(when + ", layer " + std::to_string(i));
      const auto ours = sparse.momentum(i);
      const auto theirs = dense.momentum(i);
      ASSERT_TRUE(ours.defined());
      EXPECT_GT(theirs.abs().max().item<double>(), 0);
      EXPECT_LT(max_difference(ours, theirs), 1e-6);
      EXPECT_LT(
          max_difference(sparse.s.masks.weight(i), dense.s.masks.weight(i)),
          1e-6);
    }
  };
  sparse.step(false);
  dense.step(false);
  expect_same("after one step");
  for (int k = 0; k < 3; ++k) {
    sparse.step(false);
    dense.step(false);
  }
  expect_same("after three more, unread between");
  // LibTorch's own step (one that needs dense gradients) reads the buffers.
  sparse.step(false);
  dense.step(false);
  sparse.step(true);
  dense.step(true);
  expect_same("after a dense step");
  // The weights LibTorch's step wrote must reach the next sparse forward.
  sparse.step(false);
  dense.step(false);
  expect_same("after a sparse step after it");
}

TEST(KernelRouting, ReadingTheMomentumBetweenStepsChangesNothing) {
  // Bit for bit: one run whose state is read (written back) after every
  // step and mask change, one read only at the end; through a new mask as
  // a topology update makes it, whose dropped entries' momentum must go
  // and whose kept entries' must survive.
  const Routed start;
  SgdRun read(*start.model, true), unread(*start.model, true);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto mask = torch::rand({4, 75}, gen) < 0.3;
  for (SgdRun* run : {&read, &unread}) {
    const bool reads = run == &read;
    for (int k = 0; k < 3; ++k) {
      run->step(false);
      if (reads) run->momentum(1);
    }
    run->s.masks.replace(1, mask, *run->synced, false);
    if (reads) run->momentum(1);
    for (int k = 0; k < 3; ++k) {
      run->step(false);
      if (reads) run->momentum(1);
    }
  }
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(torch::equal(read.momentum(i), unread.momentum(i))) << i;
    EXPECT_TRUE(torch::equal(read.s.masks.weight(i), unread.s.masks.weight(i)))
        << i;
  }
  const auto dropped = start.masks.mask(1).logical_and(mask.logical_not());
  ASSERT_GT(dropped.sum().item<std::int64_t>(), 0);
  EXPECT_EQ(unread.momentum(1)
                .masked_select(dropped)
                .count_nonzero()
                .item<std::int64_t>(),
            0);
}

TEST(KernelRouting, AutoTimesEachLayerAndResumesItsChoices) {
  Routed s;
  auto rng_before =
      torch::globalContext().defaultGenerator(torch::kCPU).get_state();
  auto automatic = s.route(KernelRouting::Setting::automatic);
  EXPECT_TRUE(torch::equal(
      rng_before,
      torch::globalContext().defaultGenerator(torch::kCPU).get_state()))
      << "timing draws from its own generator";
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& c = automatic.choices()[i];
    EXPECT_EQ(c.reason, "auto");
    EXPECT_GT(c.dense_ms, 0);
    EXPECT_GT(c.sparse_ms, 0);
    EXPECT_EQ(c.sparse, c.sparse_ms < c.dense_ms);
    EXPECT_EQ(static_cast<bool>(s.model->conv->kernel()), true);
  }
  // Saved choices come back in a new routing of the same model.
  torch::serialize::OutputArchive out;
  automatic.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  const bool fc_sparse = automatic.choices()[1].sparse;
  automatic.detach();
  auto again = s.route(KernelRouting::Setting::automatic);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  again.load(in);
  EXPECT_EQ(again.choices()[1].sparse, fc_sparse);
  EXPECT_EQ(again.choices()[1].reason, "auto, as saved");
}

TEST(KernelRouting, DestroyingItLetsGoOfTheLayers) {
  Routed s;
  { auto on = s.route(KernelRouting::Setting::on); }
  EXPECT_FALSE(s.model->conv->kernel());
  EXPECT_FALSE(s.model->fc->kernel());
  // A method without masks: nothing attached, one line says why.
  KernelRouting none(*s.model, nullptr, KernelRouting::Setting::on, {1, 5, 5},
                     6, torch::kCPU);
  EXPECT_TRUE(none.choices().empty());
  EXPECT_NE(none.summary().find("keeps no masks"), std::string::npos);
}

TEST(KernelRouting, SettingNames) {
  EXPECT_EQ(KernelRouting::setting_from_name("auto"),
            KernelRouting::Setting::automatic);
  EXPECT_STREQ(KernelRouting::setting_name(KernelRouting::Setting::on), "on");
  EXPECT_THROW(KernelRouting::setting_from_name("fast"), std::exception);
}

}  // namespace
}  // namespace cigl
