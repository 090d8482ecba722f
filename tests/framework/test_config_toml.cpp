// The resolved config written as TOML (config.cpp's to_toml) reads back as
// the same config: every shipped config and matrix cell, and adversarial
// strings and numbers. Equality is checked value by value with a
// comparison written here, not by comparing the writer's text with itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <type_traits>
#include <variant>

#include "cigl/core/config.hpp"
#include "cigl/core/matrix.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;

bool same(const Params& a, const Params& b, std::string& where);

// Doubles must be the same bits: -0.0 is not 0.0 here.
bool same_double(double x, double y) {
  return x == y && std::signbit(x) == std::signbit(y);
}

bool same(const Value& a, const Value& b, std::string& where) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<double>(&a)) {
    return same_double(*x, std::get<double>(b));
  }
  if (auto* x = std::get_if<std::vector<double>>(&a)) {
    const auto& y = std::get<std::vector<double>>(b);
    if (x->size() != y.size()) return false;
    for (std::size_t i = 0; i < x->size(); ++i) {
      if (!same_double((*x)[i], y[i])) return false;
    }
    return true;
  }
  if (auto* x = std::get_if<NumberMap>(&a)) {
    const auto& y = std::get<NumberMap>(b);
    if (x->size() != y.size()) return false;
    for (const auto& [k, v] : *x) {
      auto it = y.find(k);
      if (it == y.end() || !same_double(v, it->second)) return false;
    }
    return true;
  }
  if (auto* x = std::get_if<ComponentRef>(&a)) {
    const auto& y = std::get<ComponentRef>(b);
    return x->kind == y.kind && x->name == y.name && x->params && y.params &&
           same(*x->params, *y.params, where);
  }
  // bool, integers, strings and their lists: compared as they are.
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, ComponentRef> ||
                      std::is_same_v<T, NumberMap> ||
                      std::is_same_v<T, double> ||
                      std::is_same_v<T, std::vector<double>>) {
          return false;  // handled above
        } else {
          return x == std::get<T>(b);
        }
      },
      a);
}

bool same(const Params& a, const Params& b, std::string& where) {
  if (a.entries().size() != b.entries().size()) {
    where = a.path() + ": " + std::to_string(a.entries().size()) + " keys, " +
            std::to_string(b.entries().size()) + " read back";
    return false;
  }
  for (const auto& [key, entry] : a.entries()) {
    if (!b.has(key) || !same(entry.value, b.value(key), where)) {
      if (where.empty()) where = a.key_path(key);
      return false;
    }
  }
  return true;
}

::testing::AssertionResult same_config(const ExperimentConfig& a,
                                       const ExperimentConfig& b) {
  std::string where;
  auto choice = [&](const ComponentChoice& x, const ComponentChoice& y) {
    if (x.plugin != y.plugin || x.label != y.label) {
      where = x.params.path() + ": plugin or label";
      return false;
    }
    return same(x.params, y.params, where);
  };
  bool ok = same(a.experiment, b.experiment, where) &&
            same(a.training, b.training, where) &&
            same(a.averaging, b.averaging, where) &&
            same(a.distributed, b.distributed, where) &&
            choice(a.optimizer, b.optimizer) && choice(a.data, b.data) &&
            choice(a.model, b.model) && choice(a.method, b.method) &&
            choice(a.schedule, b.schedule) &&
            a.metrics.size() == b.metrics.size() &&
            a.plugin_paths == b.plugin_paths;
  for (std::size_t i = 0; ok && i < a.metrics.size(); ++i) {
    ok = choice(a.metrics[i], b.metrics[i]);
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "differs at " << where;
}

// Resolve, write, read, resolve.
ExperimentConfig round_trip(const ExperimentConfig& config) {
  return ConfigDocument::from_string(to_toml(config), "config.toml")
      .resolve(test::bundled_registry());
}

ExperimentConfig resolve(const std::string& text) {
  return ConfigDocument::from_string(text, "exp.toml")
      .resolve(test::bundled_registry());
}

TEST(ConfigToml, EveryShippedConfigAndMatrixCellReadsBackIdentical) {
  std::size_t configs = 0;
  for (const auto& entry : fs::recursive_directory_iterator(
           std::string(CIGL_TEST_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    auto doc = ConfigDocument::from_file(entry.path().string());
    if (entry.path().filename() == "baselines.toml") continue;  // not a run
    std::vector<ExperimentConfig> resolved;
    if (has_matrix(doc)) {
      resolved =
          resolve_cells(doc, expand_matrix(doc), test::bundled_registry());
    } else {
      resolved.push_back(doc.resolve(test::bundled_registry()));
    }
    for (const auto& config : resolved) {
      EXPECT_TRUE(same_config(config, round_trip(config)))
          << entry.path() << " " << config.experiment.string("name");
      ++configs;
    }
  }
  EXPECT_GE(configs, 50u);  // 32 files, two of them matrices of 15 and 21
}

TEST(ConfigToml, AdversarialStringsReadBackIdentical) {
  const std::string strings[] = {
      "",
      "line\nbreak",
      "carriage\rreturn and \r\n",
      "tab\there",
      "quote \" and backslash \\ and \\n literally",
      "'single' and '''triple'''",
      "\"\"\"",
      "control \x01\x02\x1f and delete \x7f",
      "unicode: \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x99\x82 (e-acute, check, smile)",
      "# not a comment",
      "[not.a.section]",
      "key = value",
      " leading and trailing spaces ",
  };
  auto base =
      resolve("[method]\nplugin = \"static\"\n[[metrics]]\nplugin = \"ece\"\n");
  for (const auto& s : strings) {
    auto config = base;
    config.experiment.set("name", s, "test");
    config.experiment.set("output_dir", s, "test");
    config.data.params.set("root", s, "test");
    config.metrics[0].label = s.empty() ? "x" : s;  // a metric's name
    auto again = round_trip(config);
    EXPECT_TRUE(same_config(config, again)) << s;
    EXPECT_EQ(again.experiment.string("name"), s);
  }
}

TEST(ConfigToml, AdversarialNumbersReadBackIdentical) {
  const double numbers[] = {
      0.012345678901234567,     // the issue's --set that lost digits
      0.1,                      // not exact in binary
      1.0 / 3,                  // 17 significant digits needed
      5e-4,                     // printed with an exponent
      1e-300,                   //
      4.9406564584124654e-324,  // smallest subnormal
      2.2250738585072014e-308,  // smallest normal
      3.4028234663852886e38,    // largest float32 (the tensors' type)
      1e22,                     // integral, above 2^53
      123456789012345680.0,     //
      100.0,                    // a float that looks like an integer
  };
  for (double x : numbers) {
    // Written by the test with printf's 17 digits, which read back exactly.
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", x);
    auto config = resolve(std::string("[optimizer]\nlr = ") + text +
                          "\nweight_decay = " + text +
                          "\n[method]\nplugin = \"static\"\n"
                          "distribution = { plugin = \"erk\", overrides = "
                          "{ \"fc1.weight\" = " +
                          (x <= 1 ? std::string(text) : "0.5") + " } }\n");
    ASSERT_EQ(config.optimizer.params.number("lr"), x) << text;
    auto again = round_trip(config);
    EXPECT_TRUE(same_config(config, again)) << text;
    EXPECT_EQ(again.optimizer.params.number("lr"), x) << text;
  }
  for (std::int64_t seed : {std::int64_t{0}, std::int64_t{9007199254740993},
                            std::numeric_limits<std::int64_t>::max()}) {
    auto config = resolve("");
    config.experiment.set("seed", seed, "test");
    config.model.params.set(
        "hidden", std::vector<std::int64_t>{std::max<std::int64_t>(seed, 1), 1},
        "test");
    auto again = round_trip(config);
    EXPECT_TRUE(same_config(config, again)) << seed;
    EXPECT_EQ(again.experiment.integer("seed"), seed);
  }
}

TEST(ConfigToml, FloatsAreWrittenShortest) {
  auto config = resolve("[optimizer]\nlr = 0.1\nweight_decay = 0.0005\n");
  const std::string text = to_toml(config);
  // Not 0.10000000000000001 (17 digits) nor 0.1 written as an integer.
  EXPECT_NE(text.find("lr = 0.1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("weight_decay = 5e-04\n"), std::string::npos) << text;
  EXPECT_NE(text.find("momentum = 0.9\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace cigl
