#pragma once
// Paired comparison of two groups of runs across seeds: for each density,
// the runs of group A and of group B with the same seed form a pair, and
// the mean of the differences A - B comes with a Student t confidence
// interval. Seeds share the data split, the shuffling and the
// initialisation, so pairing removes that variation from the comparison
// (used by cigl-report --paired-a/--paired-b; docs/calibration.md).
#include <string>
#include <utility>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

/// Runs whose config has every `key = value` (value as in the resolved
/// config.toml: a string, true/false or a number).
struct RunSelection {
  std::vector<std::pair<std::string, std::string>> conditions;
  std::string text;  ///< as given, for the report
};

/// Parses "method.plugin=cigl,averaging.enabled=true". Throws ConfigError
/// on a malformed list.
CIGL_API RunSelection parse_selection(const std::string& text);

struct PairedRow {
  double density = 1;  ///< method.density of the pair (1 without one)
  std::string metric;
  std::size_t pairs = 0;
  double mean_a = 0, mean_b = 0;
  double mean_difference = 0;      ///< mean of A - B over the pairs
  double sd_difference = 0;        ///< their sample standard deviation
  double ci_low = 0, ci_high = 0;  ///< 95% Student t interval of the mean
  std::size_t a_lower = 0;         ///< pairs where A's value is the lower
};

struct PairedComparison {
  RunSelection a, b;
  std::vector<PairedRow> rows;        ///< by density (descending), metric
  std::vector<std::string> unpaired;  ///< runs of A or B without partner
};

/// Reads every run folder under `roots` (config.toml and metrics.json)
/// and compares the `metrics` of the test set (or top-level numbers of
/// metrics.json, such as "density") between A and B, pairing runs by
/// method.density and experiment.seed.
CIGL_API PairedComparison
compare_paired(const std::vector<std::string>& roots, const RunSelection& a,
               const RunSelection& b, const std::vector<std::string>& metrics);

/// The table as markdown, and as CSV.
CIGL_API std::string paired_markdown(const PairedComparison& comparison);
CIGL_API std::string paired_csv(const PairedComparison& comparison);

/// The p-quantile of Student's t distribution with `df` degrees of freedom.
CIGL_API double student_t_quantile(double p, double df);

}  // namespace cigl
