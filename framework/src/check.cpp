#include "cigl/core/check.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <toml++/toml.h>

#include "cigl/core/number_text.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/error.hpp"
#include "toml_value.hpp"

namespace cigl {

namespace {

// Bounds as written in baselines.toml, digit for digit.
std::string number_text(double v) { return shortest(v); }

std::string position(const std::string& file, const toml::source_region& s) {
  if (s.begin.line == 0) return file;
  return file + ":" + std::to_string(s.begin.line) + ":" +
         std::to_string(s.begin.column);
}

[[noreturn]] void fail_at(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

Baselines parse(const toml::table& root, const std::string& source) {
  Baselines out;
  out.source = source;
  for (auto&& [key, node] : root) {
    if (key.str() != "baseline") {
      fail_at(position(source, key.source()),
              std::string(key.str()) +
                  ": unknown key (a baselines file holds [[baseline]] "
                  "blocks)");
    }
  }
  const toml::node* list = root.get("baseline");
  if (!list) return out;
  const toml::array* array = list->as_array();
  if (!array) {
    fail_at(position(source, list->source()),
            "baseline: expected [[baseline]] blocks");
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& item = *array->get(i);
    const std::string path = "baseline[" + std::to_string(i) + "]";
    const toml::table* table = item.as_table();
    if (!table)
      fail_at(position(source, item.source()), path + ": expected a table");
    Baseline b;
    b.origin = position(source, table->source());
    // In file order (toml++ sorts keys): the report follows the file.
    std::vector<std::pair<std::string, const toml::node*>> entries;
    for (auto&& [key, node] : *table) entries.emplace_back(key.str(), &node);
    std::stable_sort(entries.begin(), entries.end(), [](auto& a, auto& b) {
      const auto &x = a.second->source().begin, &y = b.second->source().begin;
      return x.line != y.line ? x.line < y.line : x.column < y.column;
    });
    for (const auto& [name, node_ptr] : entries) {
      const toml::node& node = *node_ptr;
      const std::string where = position(source, node.source());
      if (name == "match") {
        const toml::table* match = node.as_table();
        if (!match) {
          fail_at(where, path +
                             ".match: expected a table of key paths and "
                             "values, e.g. { \"method.plugin\" = "
                             "\"rigl\" }");
        }
        for (const auto& entry : flatten(*match, false)) {
          b.match.emplace_back(entry.path, matrix_value(*entry.node));
          b.match_origins.push_back(position(source, entry.key));
        }
        continue;
      }
      const toml::table* range = node.as_table();
      if (!range) {
        fail_at(where, path + "." + name +
                           ": expected a range like { min = 0.8 } or "
                           "{ min = 0.8, max = 0.9 }");
      }
      MetricRange r;
      r.metric = name;
      for (auto&& [bound, value] : *range) {
        const std::string bound_name(bound.str());
        const std::string bound_where = position(source, value.source());
        if (bound_name != "min" && bound_name != "max") {
          fail_at(position(source, bound.source()),
                  path + "." + name + "." + bound_name +
                      ": unknown key (a range has min and max)");
        }
        if (!value.is_number()) {
          fail_at(bound_where,
                  path + "." + name + "." + bound_name + ": expected a number");
        }
        (bound_name == "min" ? r.min : r.max) = *value.value<double>();
      }
      if (!r.min && !r.max) {
        fail_at(where, path + "." + name + ": give min, max or both");
      }
      if (r.min && r.max && *r.min > *r.max) {
        fail_at(where, path + "." + name + ": min is above max");
      }
      b.ranges.push_back(r);
    }
    out.baselines.push_back(std::move(b));
  }
  return out;
}

}  // namespace

std::string MetricRange::text() const {
  if (min && max)
    return "[" + number_text(*min) + ", " + number_text(*max) + "]";
  if (min) return ">= " + number_text(*min);
  if (max) return "<= " + number_text(*max);
  return "any";
}

Baselines Baselines::from_file(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw ConfigError(file + ": baselines file not found");
  }
  try {
    return parse(toml::parse_file(file), file);
  } catch (const toml::parse_error& e) {
    throw ConfigError(position(file, e.source()) +
                      ": invalid TOML: " + std::string(e.description()));
  }
}

Baselines Baselines::from_string(const std::string& text,
                                 const std::string& source_name) {
  try {
    return parse(toml::parse(text, source_name), source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(position(source_name, e.source()) +
                      ": invalid TOML: " + std::string(e.description()));
  }
}

bool CheckReport::ok(bool allow_unchecked) const {
  return failed == 0 && (allow_unchecked || unchecked == 0);
}

CheckReport check_results(const Baselines& baselines,
                          const std::vector<CellResult>& cells,
                          const std::vector<std::string>& matrix_keys) {
  // A match key that no cell has would silently match nothing.
  for (const auto& b : baselines.baselines) {
    for (std::size_t i = 0; i < b.match.size(); ++i) {
      const std::string& key = b.match[i].first;
      if (key == "cell" || std::find(matrix_keys.begin(), matrix_keys.end(),
                                     key) != matrix_keys.end()) {
        continue;
      }
      std::string message = "match: '" + key + "' is not a matrix key";
      std::string near = closest_match(key, matrix_keys);
      if (!near.empty()) {
        message += " (did you mean '" + near + "'?)";
      } else {
        message += " (matrix keys:";
        for (const auto& k : matrix_keys) message += " " + k;
        message += "; or cell)";
      }
      fail_at(b.match_origins[i], message);
    }
  }

  CheckReport report;
  report.cells = cells.size();
  for (const auto& cell : cells) {
    auto matches = [&](const Baseline& b) {
      return std::all_of(b.match.begin(), b.match.end(), [&](const auto& m) {
        if (m.first == "cell") return m.second.text == cell.name;
        const MatrixValue* v = nullptr;
        for (const auto& [k, value] : cell.values) {
          if (k == m.first) v = &value;
        }
        return v && *v == m.second;
      });
    };
    std::vector<const MetricRange*> ranges;
    for (const auto& b : baselines.baselines) {
      if (!matches(b)) continue;
      for (const auto& r : b.ranges) ranges.push_back(&r);
    }
    if (cell.status != "done") {
      CheckRow row;
      row.cell = cell.name;
      row.metric = "-";
      row.range = "done";
      row.result = CheckRow::Result::fail;
      row.note = cell.status + (cell.error.empty() ? "" : ": " + cell.error);
      report.rows.push_back(row);
      ++report.failed;
      continue;
    }
    if (ranges.empty()) {
      CheckRow row;
      row.cell = cell.name;
      row.metric = "-";
      row.range = "-";
      row.result = CheckRow::Result::unchecked;
      row.note = "no baseline matches this cell";
      report.rows.push_back(row);
      ++report.unchecked;
      continue;
    }
    for (const MetricRange* r : ranges) {
      CheckRow row;
      row.cell = cell.name;
      row.metric = r->metric;
      row.range = r->text();
      for (const auto& [k, v] : cell.metrics) {
        if (k == r->metric) row.value = v;
      }
      bool pass = false;
      if (!row.value) {
        row.note = "the cell has no metric '" + r->metric + "'";
      } else {
        // NaN fails both comparisons below, as it should.
        pass = (!r->min || *row.value >= *r->min) &&
               (!r->max || *row.value <= *r->max);
      }
      row.result = pass ? CheckRow::Result::pass : CheckRow::Result::fail;
      ++(pass ? report.passed : report.failed);
      report.rows.push_back(row);
    }
  }
  return report;
}

std::string check_table(const CheckReport& report) {
  std::size_t cell_w = 4, metric_w = 6, range_w = 5;
  for (const auto& r : report.rows) {
    cell_w = std::max(cell_w, r.cell.size());
    metric_w = std::max(metric_w, r.metric.size());
    range_w = std::max(range_w, r.range.size());
  }
  auto pad = [](std::string s, std::size_t w) {
    s.resize(std::max(w, s.size()), ' ');
    return s;
  };
  std::string out = pad("cell", cell_w) + "  " + pad("metric", metric_w) +
                    "  " + pad("value", 10) + "  " + pad("range", range_w) +
                    "  result\n";
  for (const auto& r : report.rows) {
    const char* result = r.result == CheckRow::Result::pass   ? "PASS"
                         : r.result == CheckRow::Result::fail ? "FAIL"
                                                              : "UNCHECKED";
    std::string value = "-";
    if (r.value) value = fixed(*r.value, 4);
    out += pad(r.cell, cell_w) + "  " + pad(r.metric, metric_w) + "  " +
           pad(value, 10) + "  " + pad(r.range, range_w) + "  " + result;
    if (!r.note.empty()) out += "  (" + r.note + ")";
    out += "\n";
  }
  out += "check: " + std::to_string(report.cells) + " cells, " +
         std::to_string(report.passed) + " checks passed, " +
         std::to_string(report.failed) + " failed, " +
         std::to_string(report.unchecked) + " cells unchecked\n";
  return out;
}

}  // namespace cigl
