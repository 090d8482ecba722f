// The regression check (check.cpp): inclusive ranges, matching by matrix
// values, cells not done or not covered, and malformed baselines.
#include <gtest/gtest.h>

#include <functional>

#include "cigl/core/check.hpp"
#include "cigl/error.hpp"

namespace cigl {
namespace {

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

MatrixValue number(double v) {
  MatrixValue m;
  m.is_number = true;
  m.number = v;
  m.toml = m.text = std::to_string(v);
  return m;
}
MatrixValue word(const std::string& s) {
  MatrixValue m;
  m.is_string = true;
  m.text = s;
  m.toml = "\"" + s + "\"";
  return m;
}

CellResult cell(std::size_t i, const std::string& method, double density,
                const std::string& status, double accuracy, double ece) {
  CellResult c;
  c.index = i;
  c.name = std::to_string(i) + "-" + method;
  c.values = {{"method.plugin", word(method)},
              {"method.density", number(density)}};
  c.status = status;
  if (status == "done") c.metrics = {{"accuracy", accuracy}, {"ece", ece}};
  return c;
}

const std::vector<std::string> kKeys = {"method.plugin", "method.density"};

const CheckRow* row(const CheckReport& r, const std::string& cell,
                    const std::string& metric) {
  for (const auto& x : r.rows) {
    if (x.cell == cell && x.metric == metric) return &x;
  }
  return nullptr;
}

TEST(RegressionCheck, RangesAreInclusiveAndEachBoundCanFail) {
  auto b = Baselines::from_string(R"(
[[baseline]]
match = { "method.plugin" = "rigl" }
accuracy = { min = 0.80 }
ece = { max = 0.05 }
)",
                                  "b.toml");
  auto report = check_results(b,
                              {cell(0, "rigl", 0.1, "done", 0.80, 0.05),
                               cell(1, "rigl", 0.2, "done", 0.7999, 0.01),
                               cell(2, "rigl", 0.3, "done", 0.9, 0.0501)},
                              kKeys);
  ASSERT_EQ(report.rows.size(), 6u);
  EXPECT_EQ(row(report, "0-rigl", "accuracy")->result, CheckRow::Result::pass);
  EXPECT_EQ(row(report, "0-rigl", "ece")->result, CheckRow::Result::pass);
  EXPECT_EQ(row(report, "1-rigl", "accuracy")->result, CheckRow::Result::fail);
  EXPECT_EQ(row(report, "1-rigl", "ece")->result, CheckRow::Result::pass);
  EXPECT_EQ(row(report, "2-rigl", "ece")->result, CheckRow::Result::fail);
  EXPECT_EQ(report.passed, 4u);
  EXPECT_EQ(report.failed, 2u);
  EXPECT_FALSE(report.ok(true));
  const std::string table = check_table(report);
  EXPECT_NE(table.find("1-rigl  accuracy  0.7999      >= 0.8   FAIL"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("2-rigl  ece       0.0501      <= 0.05  FAIL"),
            std::string::npos)
      << table;
}

TEST(RegressionCheck, MatchSelectsByValueAndMissingKeysMatchEverything) {
  auto b = Baselines::from_string(R"(
[[baseline]]
match = { "method.plugin" = "rigl", "method.density" = 0.1 }
accuracy = { min = 0.85, max = 0.95 }

[[baseline]]
ece = { max = 0.1 }
)",
                                  "b.toml");
  auto report = check_results(b,
                              {cell(0, "rigl", 0.1, "done", 0.86, 0.02),
                               cell(1, "rigl", 0.2, "done", 0.10, 0.02),
                               cell(2, "cigl", 0.1, "done", 0.10, 0.02)},
                              kKeys);
  // Only cell 0 has an accuracy row; every cell has the ece row.
  EXPECT_NE(row(report, "0-rigl", "accuracy"), nullptr);
  EXPECT_EQ(row(report, "1-rigl", "accuracy"), nullptr);
  EXPECT_EQ(row(report, "2-cigl", "accuracy"), nullptr);
  EXPECT_EQ(report.passed, 4u);
  EXPECT_TRUE(report.ok(false));
  EXPECT_EQ(row(report, "0-rigl", "accuracy")->range, "[0.85, 0.95]");
}

TEST(RegressionCheck, UnmatchedFailedAndIncompleteCellsAreReported) {
  auto b = Baselines::from_string(R"(
[[baseline]]
match = { "method.plugin" = "rigl" }
accuracy = { min = 0.5 }
nll = { max = 1.0 }
)",
                                  "b.toml");
  auto failed = cell(1, "rigl", 0.1, "failed", 0, 0);
  failed.error = "non-finite logits";
  auto report = check_results(b,
                              {cell(0, "cigl", 0.1, "done", 0.9, 0.01), failed,
                               cell(2, "rigl", 0.1, "done", 0.9, 0.01)},
                              kKeys);
  EXPECT_EQ(row(report, "0-cigl", "-")->result, CheckRow::Result::unchecked);
  EXPECT_EQ(row(report, "1-rigl", "-")->result, CheckRow::Result::fail);
  EXPECT_EQ(row(report, "1-rigl", "-")->note, "failed: non-finite logits");
  // A metric the cell does not have fails rather than passing silently.
  EXPECT_EQ(row(report, "2-rigl", "nll")->result, CheckRow::Result::fail);
  EXPECT_EQ(report.unchecked, 1u);
  EXPECT_EQ(report.failed, 2u);

  auto only_unchecked =
      check_results(b, {cell(0, "cigl", 0.1, "done", 0.9, 0.01)}, kKeys);
  EXPECT_FALSE(only_unchecked.ok(false));
  EXPECT_TRUE(only_unchecked.ok(true));  // --allow-unchecked
}

TEST(RegressionCheck, MalformedBaselinesAreErrorsWithFileAndLine) {
  auto check = [](const std::string& text) {
    return config_error([&] {
      check_results(Baselines::from_string(text, "b.toml"), {}, kKeys);
    });
  };
  EXPECT_EQ(check("[[baseline]]\nmatch = { \"method.plugn\" = \"rigl\" }\n"),
            "b.toml:2:11: match: 'method.plugn' is not a matrix key (did you "
            "mean 'method.plugin'?)");
  EXPECT_EQ(check("[[baseline]]\naccuracy = 0.8\n"),
            "b.toml:2:12: baseline[0].accuracy: expected a range like "
            "{ min = 0.8 } or { min = 0.8, max = 0.9 }");
  EXPECT_EQ(check("[[baseline]]\naccuracy = { min = 0.9, max = 0.8 }\n"),
            "b.toml:2:12: baseline[0].accuracy: min is above max");
  EXPECT_EQ(check("[[baseline]]\naccuracy = { minimum = 0.9 }\n"),
            "b.toml:2:14: baseline[0].accuracy.minimum: unknown key (a range "
            "has min and max)");
}

}  // namespace
}  // namespace cigl
