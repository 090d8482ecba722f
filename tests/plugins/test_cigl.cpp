// CigL's random mask and weight averaging against their arithmetic.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/trainer.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "test_support.hpp"

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

// One step by hand: dpnum = 4 hides a quarter of the active weights and
// scales the rest by 4/3; the step updates only the visible ones, with the
// chain rule's factor; hidden ones keep their value; inactive stay zero.
TEST(CigL, RandomMaskStepFollowsItsDefinition) {
  auto& registry = test::bundled_registry();
  torch::manual_seed(0);
  auto model = std::make_shared<Net>();
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(0.1));
  Params p = default_params(registry, Kind::method, "cigl");
  p.set("density", 0.5, "test");
  p.set("dpnum", 4.0, "test");
  auto method = registry.make<Method>("cigl", p);
  TrainContext context;
  context.model = model;
  context.optimizer = &optimizer;
  context.total_steps = 100;
  context.steps_per_epoch = 10;
  context.epochs = 10;
  context.components = &registry;
  method->setup(context);
  context.step = 3;  // not a topology-update step
  const MaskSet& masks = *method->mask_set();
  const auto& w = model->fc->weight;
  const auto active = masks.mask(0);
  const auto w0 = w.detach().clone();
  ASSERT_EQ(active.sum().item<std::int64_t>(), 2500);

  method->before_step(context);
  const auto hidden = active.logical_and(w.eq(0));
  const auto shown = active.logical_and(hidden.logical_not());
  const auto n_hidden = hidden.sum().item<std::int64_t>();
  // Binomial(2500, 1/4): mean 625, standard deviation 21.7.
  EXPECT_GT(n_hidden, 525);
  EXPECT_LT(n_hidden, 725);
  const double scale = 4.0 / 3.0;
  EXPECT_TRUE(torch::allclose(w.masked_select(shown),
                              w0.masked_select(shown) * scale, 1e-6, 0));
  EXPECT_EQ(
      w.masked_select(active.logical_not()).count_nonzero().item<int64_t>(), 0);

  // Loss sum((x W'^T)^2): dL/dW' = 2 (x W'^T)^T x, and dW'/dw = scale on
  // the shown weights, 0 elsewhere.
  auto x = torch::randn({8, 100});
  auto effective = w.detach().clone();
  auto expected_grad =
      (2 * torch::matmul(torch::matmul(x, effective.t()).t(), x)) * scale *
      shown.to(torch::kFloat);
  optimizer.zero_grad();
  model->forward(x).pow(2).sum().backward();
  method->after_backward(context);
  EXPECT_TRUE(torch::equal(w.detach(), w0));  // unscaled again for the step
  EXPECT_TRUE(torch::allclose(w.grad(), expected_grad, 1e-4, 1e-4));

  optimizer.step();
  method->after_step(context);
  EXPECT_TRUE(torch::equal(w.masked_select(hidden), w0.masked_select(hidden)));
  EXPECT_TRUE(torch::allclose(w.masked_select(shown),
                              (w0 - 0.1 * expected_grad).masked_select(shown),
                              1e-5, 1e-6));
  EXPECT_EQ(
      w.masked_select(active.logical_not()).count_nonzero().item<int64_t>(), 0);
}

// With a random mask that (almost surely) hides nothing, the final model
// is the plain mean of the weights at the end of the averaged epochs.
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
average_from = 1
average_unit = "epochs"
update_interval = 5
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
