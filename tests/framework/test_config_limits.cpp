// Config text beyond the limits (size, nesting, key and string length) is
// one ConfigError with file:line:column, found before TOML++ parses it:
// ~60,000 dotted key parts used to overflow the stack inside the parser.
#include <gtest/gtest.h>

#include "cigl/core/config.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::string parse_error(const std::string& text) {
  try {
    ConfigDocument::from_string(text, "exp.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed:\n" << text.substr(0, 200);
  return "";
}

std::string dotted(int parts) {
  std::string key = "a";
  for (int i = 1; i < parts; ++i) key += ".a";
  return key;
}

const std::string kTooDeep =
    "tables and arrays nested more than 32 deep (the most a config may "
    "nest)";

TEST(ConfigLimits, SixtyThousandDottedKeyPartsAreRefused) {
  EXPECT_EQ(parse_error(dotted(60000) + " = 1\n"), "exp.toml:1:1: " + kTooDeep);
}

TEST(ConfigLimits, NestingUpToTheLimitParses) {
  EXPECT_NO_THROW(ConfigDocument::from_string(dotted(32) + " = 1\n", "x"));
  EXPECT_EQ(parse_error("\n\n" + dotted(33) + " = 1\n"),
            "exp.toml:3:1: " + kTooDeep);
}

TEST(ConfigLimits, DeepTableHeadersArraysAndInlineTablesAreRefused) {
  EXPECT_EQ(parse_error("[" + dotted(40) + "]\n"), "exp.toml:1:1: " + kTooDeep);
  EXPECT_NE(parse_error("x = " + std::string(40, '[') + std::string(40, ']'))
                .find(kTooDeep),
            std::string::npos);
  std::string inline_tables = "x = ";
  for (int i = 0; i < 40; ++i) inline_tables += "{ a = ";
  inline_tables += "1" + std::string(40, '}');
  EXPECT_NE(parse_error(inline_tables).find(kTooDeep), std::string::npos);
  // Headers and keys add up: 20 + 20 parts.
  EXPECT_EQ(parse_error("[" + dotted(20) + "]\n" + dotted(20) + " = 1\n"),
            "exp.toml:2:1: " + kTooDeep);
}

TEST(ConfigLimits, BracketsDotsAndQuotesInStringsAndCommentsDoNotCount) {
  const std::string deep_text = std::string(40, '[') + dotted(40);
  EXPECT_NO_THROW(ConfigDocument::from_string(
      "a = \"" + deep_text + "\"\n" +                  // basic string
          "b = '" + deep_text + "'\n" +                // literal string
          "c = \"\"\"\n" + deep_text + "\"\"\"\"\n" +  // multi-line
          "d = 1 # " + deep_text + " ''' \"\"\"\n" +   // comment
          "\"" + dotted(40) + "\" = 2\n",              // one quoted key
      "x"));
  // A comment that looks like an opening ''' hides nothing after it.
  EXPECT_EQ(parse_error("d = 1 # '''\n" + dotted(40) + " = 1\n"),
            "exp.toml:2:1: " + kTooDeep);
}

TEST(ConfigLimits, LongKeysAndStringsAreRefused) {
  EXPECT_EQ(parse_error("[training]\n" + std::string(300, 'k') + " = 1\n"),
            "exp.toml:2:1: a key of 300 characters; at most 256");
  EXPECT_EQ(parse_error("[training]\n\"" + std::string(300, 'k') + "\" = 1\n"),
            "exp.toml:2:1: a key of 300 characters; at most 256");
  EXPECT_EQ(
      parse_error("[experiment]\nname = \"" + std::string(20000, 'n') + "\"\n"),
      "exp.toml:2:8: a string of 20000 characters; at most 16384");
}

TEST(ConfigLimits, OverridesAreBoundedToo) {
  auto doc = ConfigDocument::from_string("", "exp.toml");
  try {
    doc.apply_override(dotted(60000) + "=1");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(kTooDeep), std::string::npos);
  }
}

TEST(ConfigLimits, OversizedOrNonRegularConfigFilesAreRefused) {
  test::TempDir dir("config-limits");
  const std::string big = dir.file("big.toml");
  test::write_file(big, "# " + std::string(2 << 20, 'x') + "\n");
  try {
    ConfigDocument::from_file(big);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              big +
                  ": 2097155 bytes; a config may have at most 1048576 (is "
                  "this the right file?)");
  }
  try {
    ConfigDocument::from_file(dir.path().string());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.path().string() + ": is a folder, not a config file");
  }
}

TEST(ConfigLimits, EveryShippedConfigIsWithinTheLimits) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           std::string(CIGL_TEST_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    EXPECT_NO_THROW(ConfigDocument::from_file(entry.path())) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 30u);
}

TEST(ConfigLimits, RawNonAsciiOnlyInComments) {
  // TOML++ 3.3 reaches __builtin_unreachable on these (found by fuzzing).
  EXPECT_EQ(
      parse_error("a.\xd1\x9e = 1\n"),
      "exp.toml:1:3: a raw non-ASCII character outside a string or comment "
      "(TOML keys and values are ASCII)");
  EXPECT_EQ(parse_error("[model]\n\"h\xc3\xa9\" = 1\n"),
            "exp.toml:2:3: a raw non-ASCII character in a string; write it "
            "as \\uXXXX (TOML++ 3.3 mishandles raw ones)");
  EXPECT_EQ(parse_error("a = [400\"\"\"\xc3\xa9\"\"\"]\n"),
            "exp.toml:1:12: a raw non-ASCII character in a string; write it "
            "as \\uXXXX (TOML++ 3.3 mishandles raw ones)");
  // After a line-ending backslash, and right after an escaping one.
  EXPECT_EQ(parse_error("a = \"\"\"x\\\n  \xc3\xa9\"\"\"\n"),
            "exp.toml:2:3: a raw non-ASCII character in a string; write it "
            "as \\uXXXX (TOML++ 3.3 mishandles raw ones)");
  EXPECT_EQ(parse_error("a = \"\\\xc3\xa9\"\n"),
            "exp.toml:1:7: a raw non-ASCII character in a string; write it "
            "as \\uXXXX (TOML++ 3.3 mishandles raw ones)");
  // Comments keep them; strings spell them as escapes.
  auto doc = ConfigDocument::from_string(
      "# caf\xc3\xa9\n[experiment]\nname = \"caf\\u00e9\"\n", "exp.toml");
  (void)doc;
}

}  // namespace
}  // namespace cigl
