#pragma once
// Cross-run reports: collect run folders, group them by method and
// density (and any config keys), and summarise every test metric over the
// seeds as mean and standard deviation.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

struct ReportGroup {
  std::string method;
  double density = 1.0;           ///< method.density, 1 for dense
  std::vector<std::string> by;    ///< values of the --by keys
  std::vector<std::string> runs;  ///< run folders in the group
  /// metric -> (mean, sample standard deviation) over the group's runs.
  std::map<std::string, std::pair<double, double>> stats;
};

struct Report {
  std::vector<std::string> by_keys;
  std::vector<std::string> metrics;     ///< in first-seen order
  std::vector<ReportGroup> groups;      ///< by method, then sparsity
  std::vector<std::string> incomplete;  ///< "folder: reason"
};

/// Finds every run folder (a folder with config.toml) under `roots`, at
/// any depth. Runs without a readable metrics.json are listed as
/// incomplete, never dropped silently.
CIGL_API Report build_report(const std::vector<std::string>& roots,
                             const std::vector<std::string>& by_keys);

/// Writes report.md, report.csv and sparsity.svg into `folder`.
CIGL_API void write_report(const Report& report, const std::string& folder);

}  // namespace cigl
