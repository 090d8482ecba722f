// Parameter declarations and values (params.cpp): values rendered as TOML
// (what --describe shows and config.toml holds), constraints as text, the
// typed getters and the errors a plugin's own checks raise.
#include <gtest/gtest.h>

#include "cigl/error.hpp"
#include "cigl/params.hpp"

namespace cigl {
namespace {

TEST(ValueText, EachTypeAsTomlWritesIt) {
  EXPECT_EQ(to_string(Value(true)), "true");
  EXPECT_EQ(to_string(Value(std::int64_t{-42})), "-42");
  EXPECT_EQ(to_string(Value(0.1)), "0.1");
  EXPECT_EQ(to_string(Value(100.0)), "100.0");  // still a float in TOML
  EXPECT_EQ(to_string(Value(0.012345678901234567)), "0.012345678901234567");
  EXPECT_EQ(to_string(Value(std::string("plain"))), "\"plain\"");
  EXPECT_EQ(to_string(Value(std::vector<std::int64_t>{300, 100})),
            "[ 300, 100 ]");
  EXPECT_EQ(to_string(Value(std::vector<double>{0.5, 2.0})), "[ 0.5, 2.0 ]");
  EXPECT_EQ(to_string(Value(std::vector<std::string>{"a", "b"})),
            "[ \"a\", \"b\" ]");
  EXPECT_EQ(to_string(Value(NumberMap{{"fc1.weight", 0.5}})),
            "{ \"fc1.weight\" = 0.5 }");
  EXPECT_EQ(to_string(Value(ComponentRef{Kind::distribution, "erk", nullptr})),
            "\"erk\"");
}

TEST(ValueText, StringsAreEscapedOnOneLine) {
  EXPECT_EQ(to_string(Value(std::string("a\"b\\c\nd\te\rf\x01"))),
            "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001\"");
  // Non-ASCII as an escape, which the config reader requires.
  EXPECT_EQ(to_string(Value(std::string("\xc3\xa9"))), "\"\\u00E9\"");
}

TEST(ParamSpec, ConstraintTextShowsTheRangeOrChoices) {
  EXPECT_EQ(
      ParamSpec::number("d", 0.1, "").greater_than(0).max(1).constraint_text(),
      "(0, 1]");
  EXPECT_EQ(ParamSpec::number("m", 0.9, "").min(0).max(0.999).constraint_text(),
            "[0, 0.999]");
  EXPECT_EQ(ParamSpec::integer("n", 15, "").min(1).constraint_text(), ">= 1");
  EXPECT_EQ(ParamSpec::number("w", 5e-4, "")
                .max(0.012345678901234567)
                .constraint_text(),
            "<= 0.012345678901234567");
  EXPECT_EQ(
      ParamSpec::string("u", "a", "").one_of({"a", "b"}).constraint_text(),
      "one of: a, b");
  EXPECT_EQ(ParamSpec::component("d", Kind::distribution, "erk", "")
                .constraint_text(),
            "a distribution plugin");
  EXPECT_EQ(ParamSpec::boolean("b", true, "").constraint_text(), "");
}

TEST(Params, TypedGettersAndErrorsNameThePath) {
  Params p("method");
  p.set("density", 0.1, "exp.toml:3:11");
  p.set("interval", std::int64_t{100}, "default");
  EXPECT_EQ(p.number("density"), 0.1);
  EXPECT_EQ(p.integer("interval"), 100);
  EXPECT_EQ(p.key_path("density"), "method.density");
  EXPECT_EQ(p.origin("density"), "exp.toml:3:11");
  EXPECT_EQ(p.origin("missing"), "default");
  try {
    p.integer("density");
    FAIL() << "a float read as an integer";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "method.density: read as integer but holds another type");
  }
  try {
    p.fail("density", "too dense for this model");
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "exp.toml:3:11: method.density: too dense for this model");
  }
  try {
    p.fail("interval", "bad");  // a default has no position to name
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "method.interval: bad");
  }
  EXPECT_THROW(p.number("undeclared"), ConfigError);
}

TEST(Kinds, NamesRoundTrip) {
  for (Kind k : {Kind::method, Kind::model, Kind::dataset, Kind::metric,
                 Kind::distribution, Kind::schedule}) {
    EXPECT_EQ(kind_from_name(kind_name(k)), k);
  }
  EXPECT_FALSE(kind_from_name("optimiser"));
  EXPECT_STREQ(type_name(ParamType::number_map), "table of floats");
}

}  // namespace
}  // namespace cigl
