#pragma once
// The regression check: every cell's metrics against expected ranges from
// a baselines file.
//
//   [[baseline]]
//   match = { "method.plugin" = "rigl", "method.density" = 0.1 }
//   accuracy = { min = 0.80 }
//   ece = { max = 0.05 }
//
// `match` names matrix keys (or `cell`, a cell name); keys it leaves out
// match every value, so an empty or missing `match` matches every cell.
// Every other key is a metric with an inclusive `min` and/or `max`.
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cigl/core/matrix.hpp"

namespace cigl {

struct CIGL_API MetricRange {
  std::string metric;
  std::optional<double> min, max;
  std::string text() const;  ///< "[0.8, 0.9]", ">= 0.8", "<= 0.05"
};

struct Baseline {
  MatrixValues match;  ///< key path (or "cell") -> value
  std::vector<MetricRange> ranges;
  std::string origin;  ///< "baselines.toml:3:1"
  std::vector<std::string> match_origins;
};

struct CIGL_API Baselines {
  std::string source;
  std::vector<Baseline> baselines;
  /// Throws ConfigError (file:line) on malformed input.
  static Baselines from_file(const std::string& file);
  static Baselines from_string(const std::string& text,
                               const std::string& source_name);
};

/// A cell as the check sees it: its matrix values, and status and metrics
/// from the results index.
struct CellResult {
  std::size_t index = 0;
  std::string name;
  MatrixValues values;
  std::string status;  ///< done, failed, running, pending, stale, missing
  std::string error;
  std::vector<std::pair<std::string, double>> metrics;
};

struct CheckRow {
  enum class Result { pass, fail, unchecked };
  std::string cell, metric;  ///< metric "-" for a row about the whole cell
  std::optional<double> value;
  std::string range;
  Result result = Result::fail;
  std::string note;  ///< why, when it is not a plain comparison
};

struct CIGL_API CheckReport {
  std::vector<CheckRow> rows;
  std::size_t cells = 0, passed = 0, failed = 0, unchecked = 0;
  /// No FAIL row, and no unchecked cell unless `allow_unchecked`.
  bool ok(bool allow_unchecked) const;
};

/// Checks every cell against every baseline that matches it. A cell that
/// is not done fails; a cell whose matching baselines check nothing is
/// unchecked; a metric a done cell lacks fails. Throws ConfigError when a
/// `match` key is not one of `matrix_keys` (nor "cell").
CIGL_API CheckReport check_results(const Baselines& baselines,
                                   const std::vector<CellResult>& cells,
                                   const std::vector<std::string>& matrix_keys);

/// The report as an aligned table with a summary line.
CIGL_API std::string check_table(const CheckReport& report);

}  // namespace cigl
