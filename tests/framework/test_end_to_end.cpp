// End to end on a subset of the real Fashion-MNIST (Debian's
// dataset-fashion-mnist): the run folder, seeded reproducibility, resuming
// from saved state, and static masks holding through training.
#include <gtest/gtest.h>

#include <limits>
#include <regex>
#include <sstream>

#include "cigl/core/run.hpp"
#include "cigl/masking.hpp"
#include "test_support.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

const char* const kSubset = R"(
[experiment]
name = "e2e"
threads = 2
[training]
epochs = 2
batch_size = 64
[data]
plugin = "fashion_mnist"
train_limit = 3000
test_limit = 1000
[model]
plugin = "mlp"
hidden = [64]
[optimizer]
lr = 0.05
[schedule]
plugin = "cosine"
)";

ExperimentConfig config(const std::vector<std::string>& overrides = {}) {
  auto doc = ConfigDocument::from_string(kSubset, "e2e.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

double value_of(const MetricValues& values, const std::string& name) {
  for (const auto& [k, v] : values) {
    if (k == name) return v;
  }
  ADD_FAILURE() << "no metric " << name;
  return 0;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(EndToEnd, RunFolderHoldsConfigHistoryMetricsAndPredictions) {
  test::TempDir dir("e2e");
  std::ostringstream log;
  RunOptions options;
  options.run_dir = dir.file("run");
  options.log = &log;
  auto summary = run_experiment(config({"experiment.save_predictions=true",
                                        "experiment.temperature_scaling=true"}),
                                test::bundled_registry(), options);

  // Learns something real: 10 classes, so chance is 0.1.
  EXPECT_GT(value_of(summary.test, "accuracy"), 0.70);
  EXPECT_DOUBLE_EQ(summary.density, 1.0);
  EXPECT_EQ(summary.steps, 2 * 43);  // 2700 training examples / 64

  const std::string metrics = test::read_file(dir.file("run/metrics.json"));
  for (const char* key :
       {"\"accuracy\"", "\"top5\"", "\"ece\"", "\"mce\"", "\"adaptive_ece\"",
        "\"classwise_ece\"", "\"nll\"", "\"brier\"", "\"reliability\": {",
        "\"density\": 1"}) {
    EXPECT_NE(metrics.find(key), std::string::npos) << key << "\n" << metrics;
  }
  // Costs of the 784-64-10 MLP, both conventions: 2 FLOPs per weight plus
  // a bias add per output, 4 bytes per parameter.
  for (const char* key :
       {"\"costs\": {", "\"plain\": {", "\"micronet\": {",
        "\"dense_inference_flops\": 101706", "\"dense_size_bytes\": 203560",
        "\"inference_flops_ratio\": 1,", "\"training_flops_per_step\": "}) {
    EXPECT_NE(metrics.find(key), std::string::npos) << key << "\n" << metrics;
  }
  auto history = lines(test::read_file(dir.file("run/history.csv")));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0],
            "epoch,step,lr,train_loss,val_accuracy,val_top5,val_ece,val_mce,"
            "val_adaptive_ece,val_classwise_ece,val_nll,val_brier,"
            "val_reliability,density,seconds");
  EXPECT_EQ(history[2].rfind("2,86,", 0), 0u) << history[2];

  auto predictions = lines(test::read_file(dir.file("run/predictions.csv")));
  ASSERT_EQ(predictions.size(), 1001u);
  EXPECT_EQ(predictions[0], "label,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9");
  // Each row's probabilities sum to one (to the printed precision).
  std::stringstream row(predictions[1]);
  std::string cell;
  std::getline(row, cell, ',');
  double sum = 0;
  while (std::getline(row, cell, ',')) sum += std::stod(cell);
  EXPECT_NEAR(sum, 1.0, 1e-4);

  // Pictures: a reliability diagram and training curves, well-formed,
  // with a point per epoch for loss, validation accuracy and ECE.
  const std::string history_svg = test::read_file(dir.file("run/history.svg"));
  EXPECT_TRUE(test::well_formed_xml(history_svg));
  const std::regex point("class=\"point\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(history_svg.begin(),
                                               history_svg.end(), point),
                          std::sregex_iterator()),
            6);
  const std::string reliability =
      test::read_file(dir.file("run/reliability.svg"));
  EXPECT_TRUE(test::well_formed_xml(reliability));
  EXPECT_NE(reliability.find("class=\"bar\""), std::string::npos);
  // Temperature scaling: the fitted temperature and the metrics after it.
  EXPECT_NE(metrics.find("\"temperature\": "), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"test_temperature_scaled\": {"), std::string::npos);

  // The written config reproduces the run's settings.
  auto again = ConfigDocument::from_file(dir.file("run/config.toml"))
                   .resolve(test::bundled_registry());
  EXPECT_EQ(again.data.params.integer("train_limit"), 3000);
  EXPECT_TRUE(again.experiment.boolean("save_predictions"));
  EXPECT_NE(log.str().find("epoch 2/2"), std::string::npos) << log.str();
}

TEST(EndToEnd, SameSeedGivesBitIdenticalMetricsOnCpu) {
  auto run = [](const std::vector<std::string>& overrides) {
    Trainer trainer(config(overrides), test::bundled_registry());
    trainer.fit();
    return trainer.test();
  };
  auto a = run({"experiment.device=cpu"});
  auto b = run({"experiment.device=cpu"});
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].second, b[i].second) << a[i].first;  // exact, not near
  }
  auto c = run({"experiment.device=cpu", "experiment.seed=1"});
  EXPECT_NE(a[2].second, c[2].second) << "the seed changes nothing";
}

TEST(EndToEnd, ResumingFromSavedStateMatchesAnUninterruptedRun) {
  test::TempDir dir("resume");
  const std::vector<std::string> overrides = {
      "experiment.device=cpu", "method.plugin=static", "method.density=0.2"};
  Trainer straight(config(overrides), test::bundled_registry());
  straight.fit();
  auto expected = straight.test();

  {
    Trainer first(config(overrides), test::bundled_registry());
    first.train_epoch();
    first.save_state(dir.file("state.pt"));
  }
  Trainer resumed(config(overrides), test::bundled_registry());
  resumed.load_state(dir.file("state.pt"));
  EXPECT_EQ(resumed.epoch(), 1);
  resumed.train_epoch();
  auto got = resumed.test();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i].second, expected[i].second) << got[i].first;
  }
}

TEST(EndToEnd, NonFiniteLogitsAreAnErrorNamingTheBatch) {
  Trainer trainer(config({"experiment.device=cpu", "training.epochs=1",
                          "training.eval_batch_size=400"}),
                  test::bundled_registry());
  trainer.fit();
  {
    torch::NoGradGuard no_grad;
    // One infinite bias: every logit of that class is inf, and softmax
    // turns the batch into NaN; no metric may report a number for it.
    trainer.model()->parameters().back()[3] =
        std::numeric_limits<float>::infinity();
  }
  try {
    trainer.test();
    FAIL() << "metrics were computed from non-finite logits";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("in test batch 0 (examples 0..399)"),
              std::string::npos)
        << e.what();
  }
}

TEST(StaticMethod, MaskKeepsExactDensityAndZerosThroughTraining) {
  auto c = config({"method.plugin=static", "method.density=0.1",
                   "model.hidden=[300, 100]", "optimizer.weight_decay=0.01"});
  Trainer trainer(c, test::bundled_registry());
  auto model = trainer.model();

  // ERK for 784x300, 300x100, 100x10 worked out by hand: density_i =
  // eps * (n_in + n_out) / (n_in n_out). With all three, eps = 26620 /
  // 1594 = 16.7 and the classifier would get 16.7 * 110 / 1000 > 1, so it
  // goes dense; then eps = (0.1 * 265200 - 0.9 * 1000) / (1084 + 400) =
  // 25620 / 1484. Ones are size - floor(sparsity * size), as in RigL.
  const double total = 784 * 300 + 300 * 100 + 100 * 10;
  const double eps = 25620.0 / 1484.0;
  const std::vector<std::int64_t> expected_ones = {
      18715,  // 235200 - floor(235200 - 18714.34)
      6906,   // 30000 - floor(30000 - 6905.66)
      1000};  // dense
  ASSERT_NEAR(eps * 1084, 18714.34, 0.01);
  ASSERT_NEAR(eps * 400, 6905.66, 0.01);

  auto params = maskable_parameters(*model);
  ASSERT_EQ(params.size(), 3u);
  std::vector<torch::Tensor> initial;
  for (std::size_t i = 0; i < 3; ++i) {
    initial.push_back(params[i].weight.ne(0).clone());
    EXPECT_EQ(initial[i].sum().item<std::int64_t>(), expected_ones[i])
        << params[i].name;
  }
  trainer.fit();
  std::int64_t ones = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    auto active = params[i].weight.ne(0);
    // Every inactive weight is still exactly zero, despite momentum and
    // weight decay, and the active ones moved.
    EXPECT_FALSE(
        active.logical_and(initial[i].logical_not()).any().item<bool>())
        << params[i].name;
    EXPECT_EQ(active.sum().item<std::int64_t>(), expected_ones[i]);
    ones += expected_ones[i];
  }
  EXPECT_NEAR(trainer.density(), static_cast<double>(ones) / total, 1e-12);
  // Within one weight per layer of the target.
  EXPECT_LE(std::abs(trainer.density() * total - 0.1 * total), 3.0);
}

}  // namespace
}  // namespace cigl
