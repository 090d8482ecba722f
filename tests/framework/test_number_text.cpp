// The one number formatting (number_text.cpp): shortest text that reads
// back exactly, and the display helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include "cigl/core/number_text.hpp"

namespace cigl {
namespace {

TEST(Shortest, KnownValuesAreTheShortestText) {
  EXPECT_EQ(shortest(0.1), "0.1");
  EXPECT_EQ(shortest(0.012345678901234567), "0.012345678901234567");
  EXPECT_EQ(shortest(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(shortest(100.0), "100");
  EXPECT_EQ(shortest(0.0), "0");
  EXPECT_EQ(shortest(-0.0), "-0");
  EXPECT_EQ(shortest(5e-4), "5e-04");  // shorter than 0.0005
  EXPECT_EQ(shortest(1e-300), "1e-300");
  EXPECT_EQ(shortest(4.9406564584124654e-324), "5e-324");
  EXPECT_EQ(shortest(1e22), "1e+22");
  EXPECT_EQ(shortest(std::nan("")), "nan");
  EXPECT_EQ(shortest(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(shortest(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(Shortest, RandomDoublesReadBackExactlyWithTheFewestDigits) {
  std::mt19937_64 random(15);
  for (int i = 0; i < 20000; ++i) {
    // Random bit patterns: every exponent, subnormals included.
    std::uint64_t bits = random();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    if (!std::isfinite(x)) continue;
    const std::string text = shortest(x);
    ASSERT_EQ(std::strtod(text.c_str(), nullptr), x) << text;
    // One significant digit fewer (the nearest such decimal) no longer
    // reads back.
    std::string mantissa;
    for (char c : text.substr(0, text.find_first_of("eE"))) {
      if (c >= '0' && c <= '9') mantissa += c;
    }
    mantissa.erase(0, mantissa.find_first_not_of('0'));
    mantissa.erase(mantissa.find_last_not_of('0') + 1);
    const int digits = static_cast<int>(mantissa.size());
    // Plain integers above 2^53 print every digit of their exact value
    // (shorter than scientific notation); elsewhere the digits are the
    // fewest that read back.
    const bool plain_integer = text.find_first_of(".e") == std::string::npos;
    if (digits > 1 && !plain_integer) {
      char shorter[64];
      std::snprintf(shorter, sizeof shorter, "%.*e", digits - 2, x);
      EXPECT_NE(std::strtod(shorter, nullptr), x) << text << " " << shorter;
    }
  }
}

TEST(DisplayDigits, FixedAndSignificantRound) {
  EXPECT_EQ(fixed(0.12345, 4), "0.1235");  // 0.12345 is above ...45 in binary
  EXPECT_EQ(fixed(2.5, 0), "2");           // ties to even
  EXPECT_EQ(fixed(0.0, 3), "0.000");
  EXPECT_EQ(fixed(1e300, 2).size(), 304u);  // no truncation
  EXPECT_EQ(significant(0.000123456, 3), "0.000123");
  EXPECT_EQ(significant(123456789.0, 4), "1.235e+08");
  EXPECT_EQ(significant(90.0, 4), "90");
  EXPECT_EQ(fixed(std::nan(""), 2), "nan");
}

}  // namespace
}  // namespace cigl
