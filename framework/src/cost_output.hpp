#pragma once
// Cost reports as JSON (metrics.json, --inspect --format json) and as the
// text of --inspect; shared by inspect.cpp and run_outputs.cpp.
#include <string>

#include <nlohmann/json.hpp>

#include "cigl/core/costs.hpp"
#include "json_text.hpp"

namespace cigl {

/// `report` as one JSON object (totals, ratios, layers).
nlohmann::ordered_json costs_json(const CostReport& report);
/// Per-layer table and totals, aligned for a terminal.
std::string costs_text(const CostReport& report);
/// "0.42x FLOPs, 23.7 MB (0.23x)": one line for run logs.
std::string costs_summary(const CostReport& report);

}  // namespace cigl
