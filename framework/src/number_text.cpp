#include "cigl/core/number_text.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

namespace cigl {

namespace {

std::string non_finite(double value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

template <class... Format>
std::string chars(double value, Format... format) {
  if (!std::isfinite(value)) return non_finite(value);
  // 24 characters hold any shortest double; fixed notation of a large
  // value with many digits needs more.
  char buffer[400];
  auto [end, error] =
      std::to_chars(buffer, buffer + sizeof buffer, value, format...);
  if (error != std::errc()) return non_finite(value);  // not reached
  return std::string(buffer, end);
}

}  // namespace

std::string shortest(double value) { return chars(value); }

std::string fixed(double value, int digits) {
  return chars(value, std::chars_format::fixed, digits < 0 ? 0 : digits);
}

std::string significant(double value, int digits) {
  return chars(value, std::chars_format::general, digits < 1 ? 1 : digits);
}

}  // namespace cigl
