#pragma once
// Every number cigl writes goes through these: files (CSV, TOML, the
// results index) get the shortest text that reads back as the same double;
// logs, tables and pictures get a fixed number of digits for display.
#include <string>

#include "cigl/export.hpp"

namespace cigl {

/// The shortest text that reads back as exactly `value` (std::to_chars):
/// 0.1, 0.012345678901234567, 1e-300, 5e-324, 1e+22, 100; "nan", "inf" and
/// "-inf" for the non-finite values.
CIGL_API std::string shortest(double value);

/// `digits` digits after the point, rounded: fixed(0.12345, 4) is "0.1235".
/// For display only; files use shortest().
CIGL_API std::string fixed(double value, int digits);

/// `digits` significant digits, the shorter of fixed and scientific
/// notation (printf's %g): significant(0.000123456, 3) is "0.000123".
/// For display only; files use shortest().
CIGL_API std::string significant(double value, int digits);

}  // namespace cigl
