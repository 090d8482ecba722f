// run_experiment (run.cpp) on a Fashion-MNIST subset: the run folder a user
// gets, each file read back with the libraries a user would read it with.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cigl/core/run.hpp"
#include "test_support.hpp"
#include "xml_check.hpp"

namespace cigl {
namespace {

const char* const kSubset = R"(
[experiment]
name = "e2e"
threads = 2
save_predictions = true
temperature_scaling = true
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
[[metrics]]
plugin = "accuracy"
[[metrics]]
plugin = "ece"
n_bins = 10
[[metrics]]
plugin = "nll"
[[metrics]]
plugin = "reliability"
n_bins = 10
)";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string f; std::getline(in, f, ',');) out.push_back(f);
  return out;
}

long count(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                       std::sregex_iterator());
}

TEST(RunExperiment, RunFolderHoldsEveryFileReadableByItsLibrary) {
  test::TempDir dir("run");
  std::ostringstream log;
  RunOptions options;
  options.run_dir = dir.file("run");
  options.log = &log;
  auto config = ConfigDocument::from_string(kSubset, "e2e.toml")
                    .resolve(test::bundled_registry());
  auto summary = run_experiment(config, test::bundled_registry(), options);

  // Learns something real: 10 classes, so chance is 0.1.
  ASSERT_EQ(summary.test.size(), 3u);  // reliability has no value
  EXPECT_EQ(summary.test[0].first, "accuracy");
  EXPECT_GT(summary.test[0].second, 0.70);
  EXPECT_EQ(summary.steps, 2 * 43);  // 2700 training examples / 64

  const auto metrics =
      nlohmann::json::parse(test::read_file(dir.file("run/metrics.json")));
  EXPECT_EQ(metrics["model"], "mlp");
  EXPECT_EQ(metrics["test"].size(), 3u);
  EXPECT_FALSE(metrics["test"].contains("reliability"));
  EXPECT_EQ(metrics["test"]["accuracy"].get<double>(), summary.test[0].second);
  EXPECT_EQ(metrics["density"].get<double>(), 1.0);
  // The reliability bins: 10 of them, holding every test example.
  const auto& bins = metrics["series"]["reliability"];
  ASSERT_EQ(bins["count"].size(), 10u);
  double examples = 0;
  for (const auto& c : bins["count"]) examples += c.get<double>();
  EXPECT_EQ(examples, 1000);
  // Costs of the 784-64-10 MLP: 2 FLOPs per weight plus a bias add per
  // output, 4 bytes per parameter.
  EXPECT_EQ(metrics["costs"]["plain"]["dense_inference_flops"].get<double>(),
            2.0 * (784 * 64 + 64 * 10) + 64 + 10);
  EXPECT_EQ(metrics["costs"]["plain"]["dense_size_bytes"].get<double>(),
            4.0 * (784 * 64 + 64 + 64 * 10 + 10));
  EXPECT_TRUE(metrics["costs"].contains("micronet"));
  EXPECT_GT(metrics["temperature"].get<double>(), 0);
  EXPECT_EQ(metrics["test_temperature_scaled"].size(), 3u);
  // Which code ran: cigl and the plugin of every component.
  EXPECT_TRUE(metrics["versions"].contains("cigl"));
  EXPECT_EQ(metrics["versions"]["method/dense"], "dense 1.0.0");

  // history.csv: one column per metric with a value; the training loss
  // falls from the first epoch to the second.
  auto history = lines(test::read_file(dir.file("run/history.csv")));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0],
            "epoch,step,lr,train_loss,val_accuracy,val_ece,val_nll,density,"
            "seconds");
  EXPECT_EQ(history[2].rfind("2,86,", 0), 0u) << history[2];
  EXPECT_LT(std::stod(fields(history[2])[3]), std::stod(fields(history[1])[3]));

  auto predictions = lines(test::read_file(dir.file("run/predictions.csv")));
  ASSERT_EQ(predictions.size(), 1001u);
  EXPECT_EQ(predictions[0], "label,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9");
  // Full precision: each row's probabilities sum to one to rounding.
  auto row = fields(predictions[1]);
  double sum = 0;
  for (std::size_t c = 1; c < row.size(); ++c) sum += std::stod(row[c]);
  EXPECT_NEAR(sum, 1.0, 1e-12);

  // Pictures: the reliability diagram in the ECE metric's 10 bins with a
  // count bar per bar; training curves in five panels.
  const std::string reliability =
      test::read_file(dir.file("run/reliability.svg"));
  EXPECT_TRUE(test::well_formed_xml(reliability));
  EXPECT_LE(count(reliability, "class=\"bar\""), 10);
  EXPECT_EQ(count(reliability, "class=\"bar\""),
            count(reliability, "class=\"count\""));
  EXPECT_NE(reliability.find("mlp on fashion_mnist, dense"), std::string::npos);
  EXPECT_NE(reliability.find("over 10 equal-width bins, 1000 examples"),
            std::string::npos);
  const std::string curves = test::read_file(dir.file("run/history.svg"));
  EXPECT_TRUE(test::well_formed_xml(curves));
  for (const char* panel :
       {">loss<", ">validation accuracy<", ">validation ECE<", ">learning rate",
        ">density of the maskable weights<"}) {
    EXPECT_NE(curves.find(panel), std::string::npos) << panel;
  }
  // Two epochs: two points per line, six lines (training and validation
  // loss, accuracy, ECE, learning rate, density).
  EXPECT_EQ(count(curves, "class=\"point\""), 12);

  // The written config reproduces the run's settings.
  auto again = ConfigDocument::from_file(dir.file("run/config.toml"))
                   .resolve(test::bundled_registry());
  again.source = config.source = "";  // only the "# From" line may differ
  EXPECT_EQ(to_toml(again), to_toml(config));
  EXPECT_NE(log.str().find("epoch 2/2"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace cigl
