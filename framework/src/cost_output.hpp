#pragma once
// Cost reports as JSON (metrics.json, --inspect --format json) and as the
// text of --inspect; shared by inspect.cpp and run.cpp.
#include <string>

#include "cigl/core/costs.hpp"
#include "json.hpp"

namespace cigl {

/// Writes `report` as one JSON object value (totals, ratios, layers).
void write_costs_json(json::Writer& w, const CostReport& report);
/// Per-layer table and totals, aligned for a terminal.
std::string costs_text(const CostReport& report);
/// "0.42x FLOPs, 23.7 MB (0.23x)": one line for run logs.
std::string costs_summary(const CostReport& report);

}  // namespace cigl
