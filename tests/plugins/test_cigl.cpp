// CigL's random mask in both variants, step by step against arithmetic
// done in the test: which weights move, by how much, what the momentum
// holds, and which connections a topology update drops while some are
// hidden. Each with both draws (host index lists, device bool masks): the
// tests find the hidden weights from the weights themselves.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/trainer.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "optimizer_support.hpp"
#include "resume_support.hpp"

namespace cigl {
namespace {

class Net : public Model {
 public:
  Net() {
    fc = register_module(
        "fc", torch::nn::Linear(torch::nn::LinearOptions(100, 50).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) override { return fc->forward(x); }
  torch::nn::Linear fc{nullptr};
};

/// A cigl method on Net at density 0.5 (2500 active weights), dpnum 4,
/// driven by hand with SGD (lr 0.1, no weight decay).
struct Fixture {
  std::shared_ptr<Net> model;
  std::shared_ptr<Optimizer> optimizer;
  std::shared_ptr<Method> method;
  TrainContext context;
  torch::Tensor x;

  Fixture(const std::string& variant, const std::string& draw, double momentum,
          const std::vector<std::pair<std::string, Value>>& extra = {}) {
    auto& registry = test::bundled_registry();
    torch::manual_seed(0);
    model = std::make_shared<Net>();
    optimizer = test::make_optimizer("sgd", *model,
                                     {{"lr", 0.1},
                                      {"momentum", momentum},
                                      {"nesterov", false},
                                      {"weight_decay", 0.0}});
    Params p = default_params(registry, Kind::method, "cigl");
    p.set("density", 0.5, "test");
    p.set("dpnum", 4.0, "test");
    p.set("variant", std::string(variant), "test");
    p.set("random_mask_draw", std::string(draw), "test");
    for (const auto& [key, value] : extra) p.set(key, value, "test");
    method = registry.make<Method>("cigl", p);
    context.model = model;
    context.optimizer = optimizer.get();
    context.total_steps = 100;
    context.steps_per_epoch = 10;
    context.epochs = 10;
    context.components = &registry;
    method->setup(context);
    x = torch::randn({8, 100});
  }

  const torch::Tensor& w() const { return model->fc->weight; }
  torch::Tensor active() const { return method->mask_set()->mask(0); }

  /// dL/dW of L = sum((x W^T)^2) at W: 2 (x W^T)^T x.
  torch::Tensor loss_gradient(const torch::Tensor& weight) const {
    return 2 * torch::matmul(torch::matmul(x, weight.t()).t(), x);
  }

  /// Forward, backward and the hooks up to the optimizer step.
  void forward_backward() {
    method->before_step(context);
    optimizer->zero_grad();
    model->forward(x).pow(2).sum().backward();
    method->after_backward(context);
  }
  void finish_step() {
    optimizer->step();
    method->after_step(context);
    ++context.step;
  }
};

torch::Tensor as_float(const torch::Tensor& mask) {
  return mask.to(torch::kFloat);
}

/// The parameter: random_mask_draw.
class CigLOfficial : public testing::TestWithParam<std::string> {};
class CigLRestored : public testing::TestWithParam<std::string> {};

// The official variant over two steps (lr 0.1, momentum 0.9), as
// Masking.step does it: the mask drawn after the first backward hides
// weights in the second forward, where they hold -lr * (their update);
// the second step brings them back to their value before hiding and
// applies the update computed while hidden.
TEST_P(CigLOfficial, HiddenWeightsComeBackWithTheUpdateComputedWhileHidden) {
  Fixture f("official", GetParam(), 0.9);
  f.context.step = 3;  // no topology update at steps 3 and 4
  const auto active = f.active();
  const auto w0 = f.w().detach().clone();
  ASSERT_EQ(active.sum().item<std::int64_t>(), 2500);

  // Step 1: nothing is hidden in the first forward (D starts at ones).
  const auto g0 = f.loss_gradient(w0) * as_float(active);
  f.forward_backward();
  EXPECT_TRUE(torch::allclose(f.w().grad(), g0, 1e-4, 1e-4));
  const auto h1 = active.logical_and(f.w().eq(0));  // hidden for step 2
  const auto n1 = h1.sum().item<std::int64_t>();
  EXPECT_GT(n1, 525);  // Binomial(2500, 1/4): 625 +- 21.7
  EXPECT_LT(n1, 725);
  f.finish_step();
  // The first SGD step: buffer = g0, w -= 0.1 g0, the hidden ones from 0.
  const auto w1 =
      (w0 * as_float(h1.logical_not()) - 0.1 * g0) * as_float(active);
  EXPECT_TRUE(torch::allclose(f.w(), w1, 1e-5, 1e-6));
  // Hidden weights are not zero in the next forward: -lr g0.
  EXPECT_TRUE(torch::allclose(f.w().masked_select(h1),
                              (-0.1 * g0).masked_select(h1), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(f.optimizer->momentum(f.w()), g0, 1e-5, 1e-6));

  // Step 2: the gradient of the forward with the hidden weights at -lr g0;
  // not masked for hidden weights (their momentum takes it in full).
  const auto g1 = f.loss_gradient(w1) * as_float(active);
  f.forward_backward();
  EXPECT_TRUE(torch::allclose(f.w().grad(), g1, 1e-4, 1e-4));
  const auto h2 = active.logical_and(f.w().eq(0));
  f.finish_step();
  const auto buffer = 0.9 * g0 + g1;
  EXPECT_TRUE(
      torch::allclose(f.optimizer->momentum(f.w()), buffer, 1e-4, 1e-5));
  // Before the step each weight holds: back from hiding, its value before
  // it was hidden (w0); newly hidden, 0; otherwise w1.
  auto before = torch::where(h1, w0, w1);
  before = torch::where(h2, torch::zeros_like(before), before);
  const auto expected = (before - 0.1 * buffer) * as_float(active);
  EXPECT_TRUE(torch::allclose(f.w(), expected, 1e-4, 1e-5));
  // So a weight hidden only in step 2 lost step 1's update: w0 - 0.1 b.
  const auto back = h1.logical_and(h2.logical_not());
  ASSERT_GT(back.sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(torch::allclose(f.w().masked_select(back),
                              (w0 - 0.1 * buffer).masked_select(back), 1e-4,
                              1e-5));
  // Inactive weights stay exactly zero.
  EXPECT_EQ(f.w()
                .masked_select(active.logical_not())
                .count_nonzero()
                .item<std::int64_t>(),
            0);
}

// The step before a topology update records w_raw of every visible
// weight (a connection dropped and regrown while hidden comes back with
// it) and keeps that of the hidden ones: they still come back with the
// value they had when they were hidden.
TEST_P(CigLOfficial, TheStepBeforeAnUpdateRestoresHiddenWeightsAsAnyOther) {
  Fixture f("official", GetParam(), 0.9,
            {{"update_interval", std::int64_t{10}}});
  f.context.step = 8;  // step 10 updates the topology
  const auto active = f.active();
  const auto w8 = f.w().detach().clone();
  f.forward_backward();  // hides weights for step 9's forward
  const auto h8 = active.logical_and(f.w().eq(0));
  ASSERT_GT(h8.sum().item<std::int64_t>(), 0);
  f.finish_step();
  auto at_update = f.context;
  at_update.step = 10;
  ASSERT_TRUE(f.method->topology_update_due(at_update));
  f.forward_backward();  // step 9: restores them, hides others
  const auto h9 = active.logical_and(f.w().eq(0));
  const auto back = h8.logical_and(h9.logical_not());
  ASSERT_GT(back.sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(torch::equal(f.w().masked_select(back), w8.masked_select(back)));
}

// The official update step replaces the optimizer step with no restore:
// magnitude pruning sees the hidden weights at -lr times their update and
// drops the smallest of everything active, hidden ones first.
TEST_P(CigLOfficial, UpdateStepDropsTheSmallestIncludingHiddenWeights) {
  // A tiny learning rate makes the hidden weights (-1e-7 g) far smaller
  // than the visible ones; drop fraction 0.1 of 2500: 250 of about 625
  // hidden weights.
  Fixture f(
      "official", GetParam(), 0.0,
      {{"prune_rate", 0.1},
       {"update_interval", std::int64_t{10}},
       {"drop_schedule", ComponentRef{Kind::schedule, "constant",
                                      std::make_shared<Params>(default_params(
                                          test::bundled_registry(),
                                          Kind::schedule, "constant"))}}});
  f.optimizer->set_lr(1e-7);
  f.context.step = 9;
  const auto active = f.active();
  const auto w_before_hiding = f.w().detach().clone();
  f.forward_backward();
  const auto hidden = active.logical_and(f.w().eq(0));
  f.finish_step();  // now at step 10: an update step
  ASSERT_TRUE(f.method->topology_update_due(f.context));
  const auto w = f.w().detach().clone();

  f.method->before_step(f.context);
  f.optimizer->zero_grad();
  f.model->forward(f.x).pow(2).sum().backward();
  const auto grad = f.w().grad().clone();
  EXPECT_FALSE(f.method->update_topology(f.context));  // no optimizer step

  // The 250 smallest |w| among the active weights, as they stand.
  const auto flat_active = active.reshape(-1).nonzero().squeeze(1);
  const auto magnitudes = w.reshape(-1).abs().index_select(0, flat_active);
  const auto order = std::get<1>(magnitudes.sort());
  const auto expected_dropped =
      flat_active.index_select(0, order.narrow(0, 0, 250));
  const auto after = f.active().reshape(-1);
  auto dropped = active.reshape(-1).logical_and(after.logical_not());
  auto expected = torch::zeros_like(dropped);
  expected.index_fill_(0, expected_dropped, true);
  // A dropped weight may be regrown (largest gradient among the inactive).
  const auto regrown = expected.logical_and(after);
  EXPECT_TRUE(torch::equal(dropped, expected.logical_and(after.logical_not())));
  EXPECT_EQ(after.sum().item<std::int64_t>(), 2500);
  // All dropped weights were hidden ones.
  EXPECT_EQ(expected.logical_and(hidden.reshape(-1).logical_not())
                .sum()
                .item<std::int64_t>(),
            0);
  // Growth by the gradient of the masked forward: the 250 largest |g|
  // among the connections inactive after the drop.
  const auto inactive_after_drop =
      active.reshape(-1).logical_and(expected.logical_not()).logical_not();
  const auto candidates = inactive_after_drop.nonzero().squeeze(1);
  const auto g = grad.reshape(-1).abs().index_select(0, candidates);
  const auto top = std::get<1>(g.sort(0, /*descending=*/true));
  auto grown = torch::zeros_like(after);
  grown.index_fill_(0, candidates.index_select(0, top.narrow(0, 0, 250)), true);
  EXPECT_TRUE(torch::equal(
      grown,
      after.logical_and(active.reshape(-1).logical_not()).logical_or(regrown)));

  // The next step restores the hidden weights that stayed active to their
  // value before they were hidden.
  ++f.context.step;
  f.forward_backward();
  const auto stays =
      hidden.reshape(-1).logical_and(after).logical_and(regrown.logical_not());
  const auto now_hidden = f.w().reshape(-1).eq(0);
  const auto restored = stays.logical_and(now_hidden.logical_not());
  ASSERT_GT(restored.sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(
      torch::equal(f.w().reshape(-1).masked_select(restored),
                   w_before_hiding.reshape(-1).masked_select(restored)));
}

// The restored variant, one step by hand: dpnum = 4 hides a quarter of the
// active weights and scales the rest by 4/3 in the forward; the step
// updates only the visible ones, with the chain rule's factor; hidden
// ones keep their value; inactive stay zero.
TEST_P(CigLRestored, RandomMaskStepFollowsThePaperText) {
  Fixture f("restored", GetParam(), 0.0);
  f.context.step = 3;  // not a topology-update step
  const auto& w = f.w();
  const auto active = f.active();
  const auto w0 = w.detach().clone();
  ASSERT_EQ(active.sum().item<std::int64_t>(), 2500);

  f.method->before_step(f.context);
  const auto hidden = active.logical_and(w.eq(0));
  const auto shown = active.logical_and(hidden.logical_not());
  const auto n_hidden = hidden.sum().item<std::int64_t>();
  EXPECT_GT(n_hidden, 525);
  EXPECT_LT(n_hidden, 725);
  const double scale = 4.0 / 3.0;
  EXPECT_TRUE(torch::allclose(w.masked_select(shown),
                              w0.masked_select(shown) * scale, 1e-6, 0));
  EXPECT_EQ(
      w.masked_select(active.logical_not()).count_nonzero().item<int64_t>(), 0);

  // dW'/dw = scale on the shown weights, 0 elsewhere.
  auto expected_grad = f.loss_gradient(w.detach()) * scale * as_float(shown);
  f.optimizer->zero_grad();
  f.model->forward(f.x).pow(2).sum().backward();
  f.method->after_backward(f.context);
  EXPECT_TRUE(torch::equal(w.detach(), w0));  // unscaled again for the step
  EXPECT_TRUE(torch::allclose(w.grad(), expected_grad, 1e-4, 1e-4));

  f.finish_step();
  EXPECT_TRUE(torch::equal(w.masked_select(hidden), w0.masked_select(hidden)));
  EXPECT_TRUE(torch::allclose(w.masked_select(shown),
                              (w0 - 0.1 * expected_grad).masked_select(shown),
                              1e-5, 1e-6));
  EXPECT_EQ(
      w.masked_select(active.logical_not()).count_nonzero().item<int64_t>(), 0);
}

INSTANTIATE_TEST_SUITE_P(Draws, CigLOfficial,
                         testing::Values("host", "device"));
INSTANTIATE_TEST_SUITE_P(Draws, CigLRestored,
                         testing::Values("host", "device"));

// The device draw (bool masks from a sampler of its own) run on the CPU:
// saved at an epoch end and resumed, a run ends bit for bit where the
// uninterrupted one does, so the checkpoint holds the hidden sets, w_raw
// and the sampler's state; and the same seed draws the same masks.
class CigLDeviceDraw : public testing::TestWithParam<std::string> {};

TEST_P(CigLDeviceDraw, AResumedRunEndsWhereTheWholeOneDoes) {
  const std::string text = R"(
[experiment]
device = "cpu"
threads = 1
[training]
epochs = 4
batch_size = 50
validation_fraction = 0.0
[data]
plugin = "synthetic"
input_shape = [1, 8, 8]
train_size = 400
test_size = 50
[model]
plugin = "mlp"
hidden = [32]
[method]
plugin = "cigl"
density = 0.3
dpnum = 4
update_interval = 5
random_mask_draw = "device"
variant = ")" + GetParam() +
                           "\"\n";
  const auto resolve = [&] {
    return ConfigDocument::from_string(text, "cigl.toml")
        .resolve(test::bundled_registry());
  };
  Trainer whole(resolve(), test::bundled_registry());
  whole.fit();
  Trainer again(resolve(), test::bundled_registry());
  again.fit();

  Trainer first(resolve(), test::bundled_registry());
  first.train_epoch();
  first.train_epoch();
  auto resumed = test::resumed_from(first, resolve());
  ASSERT_EQ(resumed->step(), 16);
  resumed->fit();

  const auto expected = whole.model()->named_parameters();
  const auto same_seed = again.model()->named_parameters();
  const auto got = resumed->model()->named_parameters();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(same_seed[i].value(), expected[i].value()))
        << expected[i].key();
    EXPECT_TRUE(torch::equal(got[i].value(), expected[i].value()))
        << expected[i].key();
  }
  const MaskSet* a = whole.method().mask_set();
  const MaskSet* b = resumed->method().mask_set();
  for (std::size_t i = 0; i < a->size(); ++i) {
    EXPECT_TRUE(torch::equal(a->mask(i), b->mask(i)));
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CigLDeviceDraw,
                         testing::Values("official", "restored"));

// CigL = cigl + [averaging]: with a random mask that (almost surely)
// hides nothing, the final model is the plain mean of the weights at the
// end of the averaged epochs, from `from` inclusive.
TEST(CigL, FinalModelIsTheMeanOfTheAveragedEpochs) {
  auto doc = ConfigDocument::from_string(R"(
[experiment]
device = "cpu"
[training]
epochs = 3
batch_size = 50
[data]
train_limit = 1000
test_limit = 200
[model]
plugin = "mlp"
hidden = [32]
[method]
plugin = "cigl"
density = 0.3
dpnum = 1e12
update_interval = 5
[averaging]
from = 2
unit = "epochs"
)",
                                         "cigl.toml");
  Trainer trainer(doc.resolve(test::bundled_registry()),
                  test::bundled_registry());
  std::vector<std::vector<torch::Tensor>> at_epoch_end;
  for (int e = 0; e < 3; ++e) {
    trainer.train_epoch();
    std::vector<torch::Tensor> snapshot;
    for (const auto& p : trainer.model()->parameters()) {
      snapshot.push_back(p.detach().clone());
    }
    at_epoch_end.push_back(snapshot);
  }
  trainer.test();  // finalize: epochs 2 and 3 averaged (epoch 1 is not)
  auto params = trainer.model()->parameters();
  for (std::size_t j = 0; j < params.size(); ++j) {
    auto expected = (at_epoch_end[1][j] + at_epoch_end[2][j]) / 2;
    EXPECT_TRUE(torch::allclose(params[j], expected, 1e-6, 1e-7)) << j;
    EXPECT_FALSE(torch::allclose(params[j], at_epoch_end[2][j], 1e-6, 1e-7))
        << "averaging changed nothing for parameter " << j;
  }
}

}  // namespace
}  // namespace cigl
