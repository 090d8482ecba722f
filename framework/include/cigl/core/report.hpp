#pragma once
// Cross-run reports (cigl-report): collect finished run folders, group them
// by everything their resolved configs differ in except the seed, and
// summarise every test metric over each group's runs.
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

/// Mean and sample standard deviation: the one aggregation of results over
/// runs (the report's tables, CSV and figure all use it).
struct Aggregate {
  std::size_t count = 0;  ///< finite values
  double mean = std::numeric_limits<double>::quiet_NaN();
  /// Sample standard deviation (n - 1); NaN for fewer than two values.
  double std = std::numeric_limits<double>::quiet_NaN();
};
/// Over the finite values (a metric that is null in some runs counts the
/// others only).
CIGL_API Aggregate aggregate(const std::vector<double>& values);

struct ReportGroup {
  std::string method;  ///< method.plugin
  double density = 1;  ///< method.density; 1 for a method without one
  std::vector<std::string> values;  ///< per Report::keys; "-" where absent
  std::vector<std::string> runs;    ///< run folders in the group
  std::map<std::string, Aggregate> stats;  ///< per metric
};

struct Report {
  /// Config keys beside method.plugin and method.density that tell groups
  /// apart: every key whose value differs between runs, and the --by keys.
  std::vector<std::string> keys;
  /// Keys whose differences are averaged over: experiment.seed, the keys
  /// that only name or place a run, and the --ignore keys.
  std::vector<std::string> averaged;
  std::vector<std::string> metrics;     ///< in first-seen order
  std::vector<ReportGroup> groups;      ///< by method, sparsity, then keys
  std::vector<std::string> unfinished;  ///< "folder: why", not averaged
  std::vector<std::string> datasets, models;  ///< distinct, for titles
};

struct ReportOptions {
  /// Keys to show as columns even where every run has the same value.
  std::vector<std::string> by;
  /// Keys (or key prefixes, e.g. "metrics") whose differences are averaged
  /// over instead of splitting groups.
  std::vector<std::string> ignore;
};

/// Finds every run folder (a folder with config.toml) under `roots`, at
/// any depth. A run counts when its status.json says "done" or, for a
/// folder without status.json, when it has metrics.json; every other run
/// is listed in `unfinished`, never averaged. Throws Error when no run is
/// finished, and when a --by or --ignore key is in no run.
CIGL_API Report build_report(const std::vector<std::string>& roots,
                             const ReportOptions& options = {});

/// report.md: the table (mean +- std; a single run's value alone), the
/// keys grouped by and averaged over, the unfinished runs.
CIGL_API std::string report_markdown(const Report& report);
/// report.csv: one row per group, <metric>_mean and <metric>_std columns.
CIGL_API std::string report_csv(const Report& report);
/// sparsity.svg: accuracy and ECE against sparsity, a line per method and
/// key values with a band of +- one standard deviation, dense runs as a
/// band across the x range; "" when no group has accuracy or ECE.
CIGL_API std::string sparsity_svg(const Report& report);

/// Writes report.md, report.csv and sparsity.svg into `folder`.
CIGL_API void write_report(const Report& report, const std::string& folder);

}  // namespace cigl
