// The SDK's sparse building blocks on tensors small enough to work out by
// hand: top-k within a subset, a drop-and-grow update, mask replacement.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/sparse.hpp"
#include "optimizer_support.hpp"

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
  std::shared_ptr<Optimizer> optimizer =
      test::make_optimizer("sgd", *model,
                           {{"lr", 0.1},
                            {"momentum", 0.9},
                            {"nesterov", false},
                            {"weight_decay", 0.0}});
  TrainContext context;
  std::unique_ptr<DynamicSparsity> sparse;

  explicit Fixture(const std::string& rule = "exact", double prune_rate = 0.5) {
    auto& registry = test::bundled_registry();
    Params p = default_params(registry, Kind::method, "rigl");
    p.set("density", 0.5, "test");
    p.set("prune_rate", prune_rate, "test");
    p.set("update_rule", rule, "test");
    p.set("update_interval", std::int64_t{10}, "test");
    ComponentRef constant{Kind::schedule, "constant",
                          std::make_shared<Params>(default_params(
                              registry, Kind::schedule, "constant"))};
    p.set("drop_schedule", constant, "test");
    context.model = model;
    context.optimizer = optimizer.get();
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
  f.optimizer->step();
  auto before = f.sparse->masks().mask(0).clone();
  auto target = before.logical_not();  // swap every connection
  f.sparse->replace_mask(0, target, *f.optimizer);
  auto buffer = f.optimizer->momentum(f.model->fc->weight);
  ASSERT_TRUE(buffer.defined());
  // Dropped (old ones) and grown (new ones) alike: zero weight and momentum.
  EXPECT_EQ(buffer.count_nonzero().item<std::int64_t>(), 0);
  EXPECT_EQ(f.model->fc->weight.count_nonzero().item<std::int64_t>(), 0);

  // Without the reset, grown connections keep their momentum (SNFS).
  f.model->fc->weight.mutable_grad() = torch::ones({2, 4});
  f.optimizer->step();
  f.sparse->replace_mask(0, before, *f.optimizer, /*reset_grown_state=*/false);
  buffer = f.optimizer->momentum(f.model->fc->weight);
  EXPECT_TRUE(buffer.masked_select(before).ne(0).all().item<bool>());
  EXPECT_EQ(buffer.masked_select(before.logical_not())
                .count_nonzero()
                .item<std::int64_t>(),
            0);
}

// update_rule = "sparselearning" on the same layer, drop fraction 0.3:
// ceil(0.3 * 4) = 2 removals (the exact rule drops floor(1.2) = 1): the
// 4 + 2 smallest |w| of the whole tensor, the zeros and |-0.1| (2), |-0.3|
// (6). Growth: the 2 largest |g| among the inactive entries, 0.7 (2, just
// dropped) and 0.2 (1). Both start at 0; the regrown one keeps its
// momentum, the new one has none.
TEST(SparselearningRule, CeilDropAndRegrownWeightsResetByHand) {
  Fixture f("sparselearning", 0.3);
  auto& w = f.model->fc->weight;
  w.mutable_grad() = torch::ones({2, 4});
  f.optimizer->step();  // momentum 1 everywhere
  f.set_layer({0.0f, 0.2f, 0.7f, 0.0f, 0.0f, 0.0f, 0.05f, 0.0f});
  f.context.step = 9;
  f.sparse->drop_and_grow(f.context,
                          [&](std::size_t) { return w.grad().abs(); });
  EXPECT_TRUE(
      torch::equal(f.sparse->masks().mask(0).reshape(-1),
                   torch::tensor({1, 1, 1, 0, 1, 0, 0, 0}, torch::kBool)));
  EXPECT_TRUE(torch::equal(
      w.reshape(-1),
      torch::tensor({0.9f, 0.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.0f, 0.0f})));
  const auto momentum = f.optimizer->momentum(w).reshape(-1);
  for (int i : {0, 2, 4}) EXPECT_EQ(momentum[i].item<float>(), 1.0f) << i;
  for (int i : {1, 6}) EXPECT_EQ(momentum[i].item<float>(), 0.0f) << i;
}

// Too few inactive connections with a gradient: it grows only those, and
// the layer loses a connection (sparselearning's density drift).
TEST(SparselearningRule, GrowsFewerWhenFewInactiveWeightsHaveAGradient) {
  Fixture f("sparselearning", 0.3);
  auto& w = f.model->fc->weight;
  f.set_layer({0.0f, 0.2f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f});
  f.sparse->drop_and_grow(f.context,
                          [&](std::size_t) { return w.grad().abs(); });
  EXPECT_TRUE(
      torch::equal(f.sparse->masks().mask(0).reshape(-1),
                   torch::tensor({1, 1, 0, 0, 1, 0, 0, 0}, torch::kBool)));
  EXPECT_EQ(f.sparse->masks().active(0), 3);
}

// Updates fall where (t + 1) is a multiple of the interval: 9, 19, ...
TEST(SparselearningRule, UpdatesAtStepsBeforeTheMultiples) {
  Fixture f("sparselearning");
  auto due = [&](std::int64_t t) {
    f.context.step = t;
    return f.sparse->update_due(f.context);
  };
  EXPECT_TRUE(due(9));
  EXPECT_FALSE(due(10));
  EXPECT_TRUE(due(69));
  EXPECT_FALSE(due(79));                      // past the end (75)
  EXPECT_EQ(f.sparse->update_steps(100), 7);  // 9, 19, ..., 69
  EXPECT_EQ(f.sparse->update_steps(60), 6);   // 9, ..., 59
}

}  // namespace
}  // namespace cigl
