// The SDK's sparse building blocks on tensors small enough to work out by
// hand: top-k within a subset, a drop-and-grow update, mask replacement.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/sparse.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

TEST(TopK, SelectsWithinTheSubsetOnly) {
  auto scores = torch::tensor({5.0, 1.0, 4.0, 2.0, 3.0});
  auto among = torch::tensor({true, false, true, true, true});
  // Smallest two among {5, 4, 2, 3}: 2 (index 3) and 3 (index 4).
  auto s = std::get<0>(smallest_among(scores, among, 2).sort());
  EXPECT_TRUE(torch::equal(s, torch::tensor({3, 4}, torch::kLong)));
  // Largest two among the same: 5 (index 0) and 4 (index 2); 1 is out.
  auto l = std::get<0>(largest_among(scores, among, 2).sort());
  EXPECT_TRUE(torch::equal(l, torch::tensor({0, 2}, torch::kLong)));
  EXPECT_EQ(largest_among(scores, among, 0).numel(), 0);
  EXPECT_THROW(largest_among(scores, among, 5), Error);
}

/// A one-layer model: Linear(4 -> 2) without bias, 8 weights.
class TinyModel : public Model {
 public:
  TinyModel() {
    fc = register_module(
        "fc", torch::nn::Linear(torch::nn::LinearOptions(4, 2).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) override { return fc->forward(x); }
  torch::nn::Linear fc{nullptr};
};

struct Fixture {
  std::shared_ptr<TinyModel> model = std::make_shared<TinyModel>();
  torch::optim::SGD optimizer{model->parameters(),
                              torch::optim::SGDOptions(0.1).momentum(0.9)};
  TrainContext context;
  std::unique_ptr<DynamicSparsity> sparse;

  Fixture() {
    auto& registry = test::bundled_registry();
    Params p = default_params(registry, Kind::method, "rigl");
    p.set("density", 0.5, "test");
    p.set("prune_rate", 0.5, "test");
    p.set("update_interval", std::int64_t{10}, "test");
    ComponentRef constant{Kind::schedule, "constant",
                          std::make_shared<Params>(default_params(
                              registry, Kind::schedule, "constant"))};
    p.set("drop_schedule", constant, "test");
    context.model = model;
    context.optimizer = &optimizer;
    context.total_steps = 100;
    context.steps_per_epoch = 10;
    context.epochs = 10;
    context.components = &registry;
    sparse = std::make_unique<DynamicSparsity>(p);
    sparse->setup(context, 1);
  }

  /// The 2x4 layer used by the hand-worked updates (flat indices 0..7):
  /// weights {0.9, 0, -0.1, 0, 0.5, 0, -0.3, 0}, active at 0, 2, 4, 6,
  /// with the given gradient, at an update step.
  void set_layer(const std::vector<float>& grad) {
    torch::NoGradGuard no_grad;
    model->fc->weight.copy_(
        torch::tensor({0.9f, 0.0f, -0.1f, 0.0f, 0.5f, 0.0f, -0.3f, 0.0f})
            .view({2, 4}));
    sparse->masks().set_mask(
        0, torch::tensor({1, 0, 1, 0, 1, 0, 1, 0}, torch::kBool).view({2, 4}));
    model->fc->weight.mutable_grad() = torch::tensor(grad).view({2, 4});
    context.step = 10;
  }
};

TEST(DynamicSparsity, TimetableFollowsIntervalAndEnd) {
  Fixture f;
  EXPECT_EQ(f.sparse->end_step(), 75);  // 0.75 of 100 steps
  auto due = [&](std::int64_t t) {
    f.context.step = t;
    return f.sparse->update_due(f.context);
  };
  EXPECT_FALSE(due(0));
  EXPECT_TRUE(due(10));
  EXPECT_FALSE(due(15));
  EXPECT_TRUE(due(70));
  EXPECT_FALSE(due(80));                      // past the end
  EXPECT_EQ(f.sparse->masks().active(0), 4);  // density 0.5 of 8
}

TEST(DynamicSparsity, DropSmallestMagnitudeGrowLargestGradientByHand) {
  Fixture f;
  auto& w = f.model->fc->weight;
  f.set_layer({0.0f, 0.2f, 0.0f, 0.8f, 0.0f, 0.1f, 0.05f, 0.3f});
  // 4 active, prune_rate 0.5: k = 2. Drop |-0.1| (2) and |-0.3| (6).
  // Grow among inactive after the drop {1, 2, 3, 5, 6, 7} by |grad|:
  // 0.8 (3) and 0.3 (7).
  f.sparse->drop_and_grow(f.context,
                          [&](std::size_t) { return w.grad().abs(); });
  auto mask = f.sparse->masks().mask(0).reshape(-1);
  EXPECT_TRUE(torch::equal(
      mask, torch::tensor({1, 0, 0, 1, 1, 0, 0, 1}, torch::kBool)));
  EXPECT_EQ(f.sparse->masks().active(0), 4);  // count unchanged
  // Dropped and grown weights are zero; kept ones keep their value.
  EXPECT_TRUE(torch::equal(
      w.reshape(-1),
      torch::tensor({0.9f, 0.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.0f, 0.0f})));
}

TEST(DynamicSparsity, JustDroppedConnectionMayReturnWithItsWeight) {
  Fixture f;
  auto& w = f.model->fc->weight;
  // The largest gradients sit on the two weights that get dropped.
  f.set_layer({0.0f, 0.0f, 0.9f, 0.0f, 0.0f, 0.0f, 0.8f, 0.0f});
  f.sparse->drop_and_grow(f.context,
                          [&](std::size_t) { return w.grad().abs(); });
  EXPECT_TRUE(
      torch::equal(f.sparse->masks().mask(0).reshape(-1),
                   torch::tensor({1, 0, 1, 0, 1, 0, 1, 0}, torch::kBool)));
  // Not a new connection, so it keeps its value (as in the reference).
  EXPECT_FLOAT_EQ(w.reshape(-1)[2].item<float>(), -0.1f);
}

TEST(DynamicSparsity, NewConnectionsStartWithZeroMomentum) {
  Fixture f;
  // One optimizer step with a dense gradient gives every weight momentum.
  f.model->fc->weight.mutable_grad() = torch::ones({2, 4});
  f.optimizer.step();
  auto before = f.sparse->masks().mask(0).clone();
  auto target = before.logical_not();  // swap every connection
  f.sparse->replace_mask(0, target, f.optimizer);
  auto buffer = momentum_buffer(f.optimizer, f.model->fc->weight);
  ASSERT_TRUE(buffer.defined());
  // Dropped (old ones) and grown (new ones) alike: zero weight and momentum.
  EXPECT_EQ(buffer.count_nonzero().item<std::int64_t>(), 0);
  EXPECT_EQ(f.model->fc->weight.count_nonzero().item<std::int64_t>(), 0);

  // Without the reset, grown connections keep their momentum (SNFS).
  f.model->fc->weight.mutable_grad() = torch::ones({2, 4});
  f.optimizer.step();
  f.sparse->replace_mask(0, before, f.optimizer, /*reset_momentum=*/false);
  buffer = momentum_buffer(f.optimizer, f.model->fc->weight);
  EXPECT_TRUE(buffer.masked_select(before).ne(0).all().item<bool>());
  EXPECT_EQ(buffer.masked_select(before.logical_not())
                .count_nonzero()
                .item<std::int64_t>(),
            0);
}

}  // namespace
}  // namespace cigl
