// The recipe parts around the training loop: the [averaging] window and
// its arithmetic, label smoothing's loss, the [optimizer] plugin section
// (and the spellings of older configs), and resuming runs that use Adam
// or averaging bit for bit.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "cigl/core/averaging.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

ExperimentConfig resolve(const std::string& text,
                         const std::vector<std::string>& overrides = {}) {
  auto doc = ConfigDocument::from_string(text, "recipe.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

std::string error_of(const std::string& text) {
  try {
    resolve(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

Params averaging(const std::string& body) {
  return resolve("[averaging]\n" + body).averaging;
}

TEST(AveragingWindow, FromIsTheFirstAveragedEpochInclusive) {
  // The official begin_save = 200 of 250 averages epochs 200..250: 51.
  WeightAveraging epochs(averaging("from = 200\nunit = \"epochs\"\n"));
  EXPECT_EQ(epochs.first_epoch(250), 200);
  // A fraction of the run: round(0.8 * 250) = 200 as well; of 40: 32.
  WeightAveraging fraction(averaging("from = 0.8\n"));
  EXPECT_EQ(fraction.first_epoch(250), 200);
  EXPECT_EQ(fraction.first_epoch(40), 32);
  // From the start: epoch 1.
  WeightAveraging all(averaging("from = 0\n"));
  EXPECT_EQ(all.first_epoch(10), 1);
}

/// A method that leaves everything to the defaults (its snapshot is the
/// model's parameters).
class Plain : public Method {};

struct Scalar : Model {
  Scalar() { w = register_parameter("w", torch::zeros({1})); }
  torch::Tensor forward(torch::Tensor x) override { return x * w; }
  torch::Tensor w;
};

TEST(AveragingWindow, CountsTheEpochsOfTheWindowAndAveragesThem) {
  WeightAveraging avg(averaging("from = 3\nunit = \"epochs\"\n"));
  auto model = std::make_shared<Scalar>();
  TrainContext context;
  context.model = model;
  context.epochs = 5;
  Plain method;
  for (int epoch = 1; epoch <= 5; ++epoch) {
    model->w.detach().fill_(static_cast<double>(epoch * epoch));
    avg.on_epoch_end(epoch, context, method);
  }
  EXPECT_EQ(avg.count(), 3);  // epochs 3, 4, 5
  EXPECT_TRUE(avg.apply(context, [](const auto&) {}));
  EXPECT_FLOAT_EQ(model->w.item<float>(), (9.f + 16.f + 25.f) / 3.f);
}

TEST(AveragingConfig, TheSectionTurnsItOnUnlessItSaysFalse) {
  EXPECT_FALSE(resolve("").averaging.boolean("enabled"));
  EXPECT_TRUE(averaging("from = 0.5\n").boolean("enabled"));
  EXPECT_FALSE(averaging("enabled = false\n").boolean("enabled"));
  EXPECT_TRUE(resolve("", {"averaging.from=0.5"}).averaging.boolean("enabled"));
  // Its resolved form runs again as it is.
  auto round_trip =
      resolve(to_toml(resolve("[averaging]\nfrom = 3\nunit = \"epochs\"\n")));
  EXPECT_TRUE(round_trip.averaging.boolean("enabled"));
  EXPECT_EQ(round_trip.averaging.number("from"), 3);
  try {
    WeightAveraging bad(averaging("from = 2\n"));
    FAIL() << "a fraction above 1 was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "recipe.toml:2:8: averaging.from: is a fraction of the "
                 "epochs (unit = \"fraction\"), so at most 1");
  }
}

TEST(AveragingConfig, OldCiglKeysSayWhereAveragingWent) {
  const auto e = error_of("[method]\nplugin = \"cigl\"\naverage_from = 0.8\n");
  EXPECT_EQ(e,
            "recipe.toml:3:1: method.average_from: unknown key: weight "
            "averaging is a section of its own now: write [averaging] from = "
            "... (inclusive: the first averaged epoch)");
}

TEST(OptimizerConfig, IsAPluginSectionWithItsOwnParameters) {
  auto c =
      resolve("[optimizer]\nplugin = \"adamw\"\nlr = 0.003\nbeta2 = 0.99\n");
  EXPECT_EQ(c.optimizer.plugin, "adamw");
  EXPECT_DOUBLE_EQ(c.optimizer.params.number("lr"), 0.003);
  EXPECT_DOUBLE_EQ(c.optimizer.params.number("beta2"), 0.99);
  EXPECT_DOUBLE_EQ(c.optimizer.params.number("weight_decay"), 0.01);
  EXPECT_EQ(c.optimizer.params.string("weight_decay_on"), "weights");
  // The default is SGD.
  EXPECT_EQ(resolve("").optimizer.plugin, "sgd");
  EXPECT_EQ(error_of("[optimizer]\nplugin = \"adamw\"\nmomentum = 0.9\n"),
            "recipe.toml:3:1: optimizer.momentum: unknown key; known keys: "
            "plugin, lr, weight_decay, weight_decay_on, beta1, beta2, eps");
  EXPECT_NE(error_of("[optimizer]\nplugin = \"adamm\"\n")
                .find("unknown optimizer 'adamm' (did you mean 'adam'?)"),
            std::string::npos);
}

// Configs from before optimizers were plugins (`type = "sgd"`, as every
// older run folder's config.toml says) still run, with weight decay on
// every parameter as they meant.
TEST(OptimizerConfig, OldTypeKeyStillRunsAsBefore) {
  auto c = resolve("[optimizer]\ntype = \"sgd\"\nlr = 0.2\n");
  EXPECT_EQ(c.optimizer.plugin, "sgd");
  EXPECT_DOUBLE_EQ(c.optimizer.params.number("lr"), 0.2);
  EXPECT_EQ(c.optimizer.params.string("weight_decay_on"), "all");
  EXPECT_EQ(resolve("[optimizer]\ntype = \"sgd\"\nweight_decay_on = "
                    "\"weights\"\n")
                .optimizer.params.string("weight_decay_on"),
            "weights");
  EXPECT_EQ(error_of("[optimizer]\ntype = \"sgd\"\nplugin = \"adam\"\n"),
            "recipe.toml:2:8: optimizer.type: give `plugin` only (`type` is "
            "its old spelling)");
}

// Cross-entropy with label smoothing e on a hand example: logits
// z = (x0, x1, 0) from a 2-input, 3-class linear model; per example
// (1 - e) (lse(z) - z_y) + e (lse(z) - mean(z)).
TEST(LabelSmoothing, TrainingLossIsTheSmoothedCrossEntropy) {
  const double e = 0.2;
  auto config = resolve(R"(
[experiment]
device = "cpu"
[training]
epochs = 1
batch_size = 30
validation_fraction = 0.0
label_smoothing = 0.2
[data]
plugin = "synthetic"
input_shape = [2]
num_classes = 3
train_size = 30
test_size = 3
[model]
plugin = "mlp"
hidden = []
)");
  Trainer trainer(config, test::bundled_registry());
  {
    torch::NoGradGuard no_grad;
    auto params = trainer.model()->named_parameters();
    params["fc1.weight"].copy_(
        torch::tensor({1.f, 0.f, 0.f, 1.f, 0.f, 0.f}).view({3, 2}));
    params["fc1.bias"].zero_();
  }
  const auto& split = trainer.train_split();
  const auto x = split.inputs.to(torch::kDouble);
  double expected = 0;
  for (std::int64_t i = 0; i < split.size(); ++i) {
    const double z[3] = {x[i][0].item<double>(), x[i][1].item<double>(), 0.0};
    const double top = std::max({z[0], z[1], z[2]});
    const double lse =
        top + std::log(std::exp(z[0] - top) + std::exp(z[1] - top) +
                       std::exp(z[2] - top));
    const double zy = z[split.labels[i].item<std::int64_t>()];
    const double mean_z = (z[0] + z[1] + z[2]) / 3;
    expected += (1 - e) * (lse - zy) + e * (lse - mean_z);
  }
  expected /= static_cast<double>(split.size());
  const auto record = trainer.train_epoch();  // one step: the loss before it
  EXPECT_NEAR(record.train_loss, expected, 1e-5);
}

// Resuming after one epoch gives the uninterrupted run's final model to
// the bit, with Adam's moments, CigL's raw weights and the running
// average in the saved state.
class Resume : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(Resume, IsBitIdentical) {
  const char* base = R"(
[experiment]
device = "cpu"
threads = 1
[training]
epochs = 3
batch_size = 50
[data]
train_limit = 1500
test_limit = 300
[model]
plugin = "mlp"
hidden = [32]
)";
  test::TempDir dir("resume-recipe");
  auto straight_config = resolve(base, GetParam());
  Trainer straight(straight_config, test::bundled_registry());
  straight.fit();
  const auto expected = straight.test();
  {
    Trainer first(resolve(base, GetParam()), test::bundled_registry());
    first.train_epoch();
    first.save_state(dir.file("state.pt"));
  }
  Trainer resumed(resolve(base, GetParam()), test::bundled_registry());
  resumed.load_state(dir.file("state.pt"));
  resumed.fit();
  const auto got = resumed.test();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i].second)) continue;
    EXPECT_EQ(got[i].second, expected[i].second) << got[i].first;
  }
  auto a = straight.model()->parameters(), b = resumed.model()->parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Recipes, Resume,
    ::testing::Values(
        std::vector<std::string>{"optimizer.plugin=adam", "optimizer.lr=0.003",
                                 "method.plugin=rigl",
                                 "method.update_interval=7"},
        std::vector<std::string>{"optimizer.plugin=adamw",
                                 "optimizer.lr=0.003"},
        std::vector<std::string>{"averaging.from=1", "averaging.unit=epochs",
                                 "method.plugin=cigl", "method.dpnum=10",
                                 "method.update_interval=7"},
        std::vector<std::string>{"averaging.from=0.5", "method.plugin=cigl",
                                 "method.variant=restored",
                                 "method.update_interval=7"},
        std::vector<std::string>{"method.plugin=cigl",
                                 "method.update_rule=sparselearning",
                                 "method.update_interval=7"}));

}  // namespace
}  // namespace cigl
