// Config errors point at file:line:column and the key path, with a
// suggestion where one is close; --set goes through the same checks.
#include <gtest/gtest.h>

#include "cigl/core/config.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

ExperimentConfig resolve(const std::string& text,
                         const std::vector<std::string>& overrides = {}) {
  auto doc = ConfigDocument::from_string(text, "exp.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

std::string error_of(const std::string& text,
                     const std::vector<std::string>& overrides = {}) {
  try {
    resolve(text, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "config was accepted:\n" << text;
  return "";
}

TEST(Config, EmptyConfigTakesEveryDefault) {
  auto c = resolve("");
  EXPECT_EQ(c.data.plugin, "fashion_mnist");
  EXPECT_EQ(c.model.plugin, "mlp");
  EXPECT_EQ(c.method.plugin, "dense");
  EXPECT_EQ(c.schedule.plugin, "constant");
  EXPECT_EQ(c.model.params.integers("hidden"),
            (std::vector<std::int64_t>{300, 100}));
  EXPECT_EQ(c.training.integer("epochs"), 10);
  EXPECT_DOUBLE_EQ(c.optimizer.params.number("lr"), 0.1);
  ASSERT_EQ(c.metrics.size(), 9u);
  EXPECT_EQ(c.metrics[2].label, "ece");
  EXPECT_EQ(c.metrics[2].params.integer("n_bins"), 15);
  EXPECT_EQ(c.metrics[8].label, "reliability");
}

TEST(Config, MisspeltKeyNamesLineColumnPathAndSuggestion) {
  EXPECT_EQ(error_of("[model]\nplugin = \"mlp\"\n  hiden = [10]\n"),
            "exp.toml:3:3: model.hiden: unknown key (did you mean "
            "'hidden'?)");
}

TEST(Config, UnknownKeyFarFromAnyListsTheKnownKeys) {
  std::string e = error_of("[optimizer]\nzzzzzz = 1\n");
  EXPECT_EQ(e.rfind("exp.toml:2:1: optimizer.zzzzzz: unknown key; known "
                    "keys: plugin, lr,",
                    0),
            0u)
      << e;
}

TEST(Config, WrongTypeIsReportedAtTheValue) {
  EXPECT_EQ(error_of("[training]\nepochs = \"ten\"\n"),
            "exp.toml:2:10: training.epochs: expected integer, got a string");
  EXPECT_EQ(error_of("[training]\nepochs = 2.5\n"),
            "exp.toml:2:10: training.epochs: expected integer, got float 2.5");
}

TEST(Config, IntegerIsAcceptedWhereAFloatIsDeclared) {
  auto c = resolve("[optimizer]\nlr = 1\n");
  EXPECT_DOUBLE_EQ(c.optimizer.params.number("lr"), 1.0);
}

TEST(Config, OutOfRangeValuesSayTheRange) {
  EXPECT_EQ(error_of("[method]\nplugin = \"static\"\ndensity = 1.5\n"),
            "exp.toml:3:11: method.density: 1.5 is out of range (expected "
            "(0, 1])");
  EXPECT_EQ(error_of("[optimizer]\nlr = 0\n"),
            "exp.toml:2:6: optimizer.lr: 0 is out of range (expected > 0)");
  EXPECT_EQ(error_of("[model]\nhidden = [300, 0]\n"),
            "exp.toml:2:10: model.hidden[1]: 0 is out of range (expected "
            ">= 1)");
}

TEST(Config, InfiniteNumbersAreOutOfRange) {
  EXPECT_EQ(error_of("[optimizer]\nweight_decay = inf\n"),
            "exp.toml:2:16: optimizer.weight_decay: inf is out of range "
            "(expected >= 0)");
}

// 1e308 is a valid double, and used to overflow inside LibTorch's
// optimizer ("value cannot be converted to type float without overflow"),
// naming no key.
TEST(Config, NumbersBeyondFloat32AreOutOfRangeNamingTheKey) {
  EXPECT_EQ(error_of("[optimizer]\nlr = 1e308\n"),
            "exp.toml:2:6: optimizer.lr: 1e+308 is out of range (beyond "
            "float32's 3.40282e+38, the tensors' type)");
  EXPECT_EQ(error_of("", {"optimizer.weight_decay=1e39"}),
            "--set optimizer.weight_decay=1e39: optimizer.weight_decay: 1e+39 "
            "is out of range (beyond float32's 3.40282e+38, the tensors' "
            "type)");
}

// It used to train every epoch and only then fail.
TEST(Config, TemperatureScalingNeedsAValidationSplit) {
  EXPECT_EQ(error_of("[experiment]\ntemperature_scaling = true\n"
                     "[training]\nvalidation_fraction = 0\n"),
            "exp.toml:2:23: experiment.temperature_scaling: fits a "
            "temperature on the validation split, but "
            "training.validation_fraction is 0 (exp.toml:4:23)");
  EXPECT_NO_THROW(resolve("[experiment]\ntemperature_scaling = true\n"));
}

// A folder missing here may exist where the config is used next; the
// plugin search warns about it (test_registry.cpp).
TEST(Config, MissingPluginFolderIsKeptForTheSearchToWarnAbout) {
  auto c = resolve("[plugins]\npaths = [\"/nonexistent/plugins\"]\n");
  EXPECT_EQ(c.plugin_paths, std::vector<std::string>{"/nonexistent/plugins"});
}

TEST(Config, UnknownPluginSuggestsTheClosest) {
  std::string e = error_of("[model]\nplugin = \"lenet\"\n");
  EXPECT_EQ(e.rfind("exp.toml:2:10: model.plugin: unknown model 'lenet' "
                    "(did you mean 'lenet5'?)",
                    0),
            0u)
      << e;
}

TEST(Config, StringChoicesAreChecked) {
  EXPECT_EQ(
      error_of("[experiment]\ndevice = \"gpu\"\n"),
      "exp.toml:2:10: experiment.device: 'gpu' is not a device; use auto, "
      "cpu, cuda or cuda:N");
}

TEST(Config, UnknownSectionIsRejected) {
  EXPECT_EQ(error_of("[modle]\nplugin = \"mlp\"\n"),
            "exp.toml:1:2: modle: unknown section (did you mean 'model'?)");
}

TEST(Config, EveryProblemIsReportedOnItsOwnLine) {
  std::string e = error_of(
      "[training]\nepochs = 0\n[model]\nhiden = 1\n[optimizer]\nlr = -1\n");
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 2) << e;
}

TEST(Config, NestedComponentIsResolvedAgainstItsPlugin) {
  auto c = resolve(
      "[method]\nplugin = \"static\"\n"
      "distribution = { plugin = \"uniform\", dense_first_layer = true }\n");
  const auto& ref = c.method.params.component("distribution");
  EXPECT_EQ(ref.name, "uniform");
  EXPECT_TRUE(ref.params->boolean("dense_first_layer"));
  EXPECT_FALSE(ref.params->boolean("dense_last_layer"));

  std::string e = error_of(
      "[method]\nplugin = \"static\"\n"
      "distribution = { plugin = \"uniform\", dense_frist_layer = true }\n");
  EXPECT_NE(e.find("method.distribution.dense_frist_layer: unknown key (did "
                   "you mean 'dense_first_layer'?)"),
            std::string::npos)
      << e;
  e = error_of("[method]\nplugin = \"static\"\ndistribution = \"erkk\"\n");
  EXPECT_NE(e.find("exp.toml:3:16: method.distribution: unknown "
                   "distribution 'erkk' (did you mean 'erk'?)"),
            std::string::npos)
      << e;
}

TEST(Config, OverrideReplacesAValueAndIsValidatedLikeTheFile) {
  auto c = resolve("[training]\nepochs = 3\n",
                   {"training.epochs=7", "model.hidden=[64]"});
  EXPECT_EQ(c.training.integer("epochs"), 7);
  EXPECT_EQ(c.training.origin("epochs"), "--set training.epochs=7");
  EXPECT_EQ(c.model.params.integers("hidden"), std::vector<std::int64_t>{64});

  EXPECT_EQ(error_of("", {"training.epochs=-1"}),
            "--set training.epochs=-1: training.epochs: -1 is out of range "
            "(expected >= 1)");
  EXPECT_EQ(error_of("", {"training.epoch=3"}),
            "--set training.epoch=3: training.epoch: unknown key (did you "
            "mean 'epochs'?)");
}

TEST(Config, OverrideOfAStringTakesABareWord) {
  auto c = resolve("", {"method.plugin=static", "experiment.name=my run"});
  EXPECT_EQ(c.method.plugin, "static");
  EXPECT_EQ(c.experiment.string("name"), "my run");
}

TEST(Config, OverrideIntoAMetricsEntryByIndex) {
  auto c = resolve("[[metrics]]\nplugin = \"ece\"\n", {"metrics.0.n_bins=10"});
  EXPECT_EQ(c.metrics[0].params.integer("n_bins"), 10);
  EXPECT_THROW(resolve("[[metrics]]\nplugin = \"ece\"\n", {"metrics.3.x=1"}),
               ConfigError);
}

TEST(Config, MalformedOverrideIsAUsageError) {
  auto doc = ConfigDocument::from_string("", "exp.toml");
  EXPECT_THROW(doc.apply_override("training.epochs"), ConfigError);
  EXPECT_THROW(doc.apply_override("epochs=3"), ConfigError);
}

TEST(Config, TomlSyntaxErrorHasItsPosition) {
  try {
    ConfigDocument::from_string("[training]\nepochs = = 3\n", "exp.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("exp.toml:2:", 0), 0u) << e.what();
  }
}

TEST(Config, MissingFileIsAConfigError) {
  EXPECT_THROW(ConfigDocument::from_file("/nonexistent/exp.toml"), ConfigError);
}

TEST(Config, DuplicateMetricLabelsNeedAName) {
  std::string e = error_of(
      "[[metrics]]\nplugin = \"ece\"\n[[metrics]]\nplugin = \"ece\"\n"
      "n_bins = 10\n");
  EXPECT_NE(e.find("metric name 'ece' is used twice"), std::string::npos) << e;
  auto c = resolve(
      "[[metrics]]\nplugin = \"ece\"\n[[metrics]]\nplugin = \"ece\"\n"
      "name = \"ece10\"\nn_bins = 10\n");
  EXPECT_EQ(c.metrics[1].label, "ece10");
}

TEST(Config, ResolvedConfigWrittenAsTomlReadsBackTheSame) {
  auto c = resolve(
      "[experiment]\nname = \"x\"\n[method]\nplugin = \"static\"\n"
      "density = 0.2\ndistribution = { plugin = \"erk\", erk_power_scale = "
      "0.5 }\n[[metrics]]\nplugin = \"ece\"\nname = \"ece10\"\nn_bins = 10\n");
  std::string text = to_toml(c);
  auto again = ConfigDocument::from_string(text, "exp.toml")
                   .resolve(test::bundled_registry());
  EXPECT_EQ(to_toml(again), text);
  EXPECT_DOUBLE_EQ(again.method.params.number("density"), 0.2);
  EXPECT_DOUBLE_EQ(again.method.params.component("distribution")
                       .params->number("erk_power_scale"),
                   0.5);
  EXPECT_EQ(again.metrics[0].label, "ece10");
  EXPECT_NE(text.find("epochs = 10\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace cigl
