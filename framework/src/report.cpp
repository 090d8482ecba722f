#include "cigl/core/report.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <tuple>

#include <toml++/toml.h>

#include "cigl/core/files.hpp"
#include "cigl/core/number_text.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/svg.hpp"
#include "cigl/error.hpp"
#include "csv_text.hpp"
#include "json_text.hpp"
#include "toml_value.hpp"

namespace fs = std::filesystem;

namespace cigl {

Aggregate aggregate(const std::vector<double>& values) {
  Aggregate a;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    ++a.count;
  }
  if (a.count == 0) return a;
  a.mean = sum / static_cast<double>(a.count);
  if (a.count < 2) return a;
  double squares = 0;
  for (double v : values) {
    if (std::isfinite(v)) squares += (v - a.mean) * (v - a.mean);
  }
  a.std = std::sqrt(squares / static_cast<double>(a.count - 1));
  return a;
}

namespace {

// Keys that name or place a run, or only add files: never a difference
// between experiments. The seed is what a group averages over.
const char* const kNotCompared[] = {
    "experiment.seed", "experiment.name", "experiment.output_dir",
    "experiment.save_predictions", "plugins.paths"};

std::string read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Resolved config as key path -> TOML text of the value: tables (inline
// ones too) and arrays of tables ([[metrics]]: metrics.0.plugin) become
// paths; arrays of values stay whole values ("[300, 100]").
void flatten_config(const toml::table& table, const std::string& prefix,
                    std::map<std::string, std::string>& out) {
  for (auto&& [key, node] : table) {
    const std::string path = prefix + std::string(key.str());
    if (const auto* t = node.as_table()) {
      flatten_config(*t, path + ".", out);
      continue;
    }
    const auto* array = node.as_array();
    if (array && !array->empty() && array->is_array_of_tables()) {
      for (std::size_t i = 0; i < array->size(); ++i) {
        flatten_config(*array->get(i)->as_table(),
                       path + "." + std::to_string(i) + ".", out);
      }
      continue;
    }
    out[path] = toml_text(node);
  }
}

struct Run {
  std::string folder;
  std::map<std::string, std::string> config;
  std::vector<std::pair<std::string, double>> metrics;
};

// "done", or why not. A folder from before status.json counts as done when
// it has metrics.json.
std::string run_state(const fs::path& run) {
  const fs::path status = run / "status.json";
  if (fs::exists(status)) {
    const auto j = nlohmann::json::parse(read(status), nullptr, false);
    if (!j.is_object() || !j.contains("state") || !j["state"].is_string()) {
      return "status.json unreadable";
    }
    const std::string state = j["state"].get<std::string>();
    if (state == "done") return state;
    std::string why = "state " + state;
    for (const char* key : {"error", "message", "reason"}) {
      if (j.contains(key) && j[key].is_string()) {
        why += " (" + j[key].get<std::string>() + ")";
        break;
      }
    }
    return why;
  }
  if (!fs::exists(run / "metrics.json")) {
    return "no metrics.json (running, failed or interrupted)";
  }
  return "done";
}

Run read_run(const fs::path& folder) {
  Run run;
  run.folder = folder.string();
  try {
    flatten_config(toml::parse_file((folder / "config.toml").string()), "",
                   run.config);
  } catch (const toml::parse_error& e) {
    throw Error("config.toml: " + std::string(e.description()));
  }
  const auto metrics = nlohmann::ordered_json::parse(
      read(folder / "metrics.json"), nullptr, false);
  if (!metrics.is_object() || !metrics.contains("test") ||
      !metrics["test"].is_object()) {
    throw Error("metrics.json has no \"test\" object");
  }
  // Metrics reported as series too (the reliability bins) were a repeated
  // ECE in folders written before Metric::scalar.
  std::set<std::string> series;
  if (metrics.contains("series") && metrics["series"].is_object()) {
    for (const auto& [name, v] : metrics["series"].items()) series.insert(name);
  }
  auto add = [&](const std::string& prefix, const char* key) {
    if (!metrics.contains(key) || !metrics[key].is_object()) return;
    for (const auto& [name, v] : metrics[key].items()) {
      if (series.count(name)) continue;
      // null: undefined for this run (top5 with few classes).
      run.metrics.emplace_back(prefix + name,
                               v.is_number() ? v.get<double>() : NAN);
    }
  };
  add("", "test");
  add("scaled_", "test_temperature_scaled");
  if (metrics.contains("density") && metrics["density"].is_number()) {
    run.metrics.emplace_back("density", metrics["density"].get<double>());
  }
  return run;
}

bool compared(const std::string& key, const std::vector<std::string>& ignore) {
  for (const char* k : kNotCompared) {
    if (key == k) return false;
  }
  for (const auto& i : ignore) {
    if (key == i || key.rfind(i + ".", 0) == 0) return false;
  }
  return true;
}

// Keys whose value differs between runs. A key some runs lack counts only
// when no differing `plugin` of an enclosing table explains its absence
// (rigl has update_interval, dense does not: method.plugin tells them
// apart already).
std::vector<std::string> differing_keys(const std::vector<Run>& runs) {
  std::map<std::string, std::set<std::string>> values;
  std::map<std::string, std::size_t> present;
  for (const auto& run : runs) {
    for (const auto& [k, v] : run.config) {
      values[k].insert(v);
      ++present[k];
    }
  }
  auto varies = [&](const std::string& key) {
    auto it = values.find(key);
    if (it == values.end()) return false;
    return it->second.size() > 1 || present[key] < runs.size();
  };
  std::vector<std::string> out;
  for (const auto& [key, set] : values) {
    if (set.size() > 1) {
      out.push_back(key);
      continue;
    }
    if (present[key] == runs.size()) continue;
    bool explained = false;
    for (auto dot = key.rfind('.'); dot != std::string::npos && !explained;
         dot = dot == 0 ? std::string::npos : key.rfind('.', dot - 1)) {
      const std::string plugin = key.substr(0, dot) + ".plugin";
      explained = plugin != key && varies(plugin);
    }
    if (!explained) out.push_back(key);
  }
  return out;
}

std::string percent(double density) {
  // One decimal, none for a whole percentage: 90%, 99.5%.
  return significant(std::round((1 - density) * 1000) / 10, 4) + "%";
}

std::string cell(const Aggregate& a) {
  if (a.count == 0) return "-";
  if (a.count == 1 || !std::isfinite(a.std)) return fixed(a.mean, 4);
  return fixed(a.mean, 4) + " +- " + fixed(a.std, 4);
}

std::string join(const std::vector<std::string>& items,
                 const std::string& separator) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : separator) + i;
  return out;
}

}  // namespace

Report build_report(const std::vector<std::string>& roots,
                    const ReportOptions& options) {
  std::vector<fs::path> folders;
  for (const auto& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw Error(root + ": not a folder");
    if (fs::exists(fs::path(root) / "config.toml")) folders.emplace_back(root);
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_directory() && fs::exists(entry.path() / "config.toml")) {
        folders.push_back(entry.path());
      }
    }
  }
  std::sort(folders.begin(), folders.end());
  folders.erase(std::unique(folders.begin(), folders.end()), folders.end());
  if (folders.empty()) {
    throw Error("no run folders (folders holding config.toml) under " +
                join(roots, ", "));
  }

  Report report;
  std::vector<Run> runs;
  for (const auto& folder : folders) {
    const std::string state = run_state(folder);
    if (state != "done") {
      report.unfinished.push_back(folder.string() + ": " + state);
      continue;
    }
    try {
      runs.push_back(read_run(folder));
    } catch (const std::exception& e) {
      report.unfinished.push_back(folder.string() + ": unreadable (" +
                                  e.what() + ")");
    }
  }
  if (runs.empty()) {
    throw Error("no finished runs among the " + std::to_string(folders.size()) +
                " run folders under " + join(roots, ", ") +
                " (first: " + report.unfinished.front() + ")");
  }

  std::vector<std::string> all_keys;
  for (const auto& run : runs) {
    for (const auto& [k, v] : run.config) all_keys.push_back(k);
  }
  std::sort(all_keys.begin(), all_keys.end());
  all_keys.erase(std::unique(all_keys.begin(), all_keys.end()), all_keys.end());
  auto known = [&](const std::string& key, bool prefix, const char* option) {
    for (const auto& k : all_keys) {
      if (k == key || (prefix && k.rfind(key + ".", 0) == 0)) return;
    }
    std::string message =
        std::string(option) + " " + key + ": no finished run has this key";
    const std::string near = closest_match(key, all_keys);
    if (!near.empty()) message += " (did you mean '" + near + "'?)";
    throw Error(message);
  };
  for (const auto& k : options.by) known(k, false, "--by");
  for (const auto& k : options.ignore) known(k, true, "--ignore");

  report.keys = options.by;
  for (const auto& key : differing_keys(runs)) {
    if (key == "method.plugin" || key == "method.density") continue;
    if (!compared(key, options.ignore)) continue;
    if (std::find(report.keys.begin(), report.keys.end(), key) ==
        report.keys.end()) {
      report.keys.push_back(key);
    }
  }
  report.averaged = {"experiment.seed"};
  for (const auto& k : options.ignore) report.averaged.push_back(k);

  using GroupKey = std::tuple<std::string, double, std::vector<std::string>>;
  std::map<GroupKey, std::vector<const Run*>> grouped;
  std::set<std::string> datasets, models;
  for (const auto& run : runs) {
    auto text = [&](const std::string& key) -> std::string {
      auto it = run.config.find(key);
      if (it == run.config.end()) return "-";
      const auto& v = it->second;
      // Strings without their quotes; everything else as TOML.
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        return toml::parse("v = " + v)["v"].value_or(v);
      }
      return v;
    };
    double density = 1;
    if (auto it = run.config.find("method.density"); it != run.config.end()) {
      density = toml::parse("v = " + it->second)["v"].value_or(1.0);
    }
    std::vector<std::string> values;
    for (const auto& key : report.keys) values.push_back(text(key));
    grouped[{text("method.plugin"), -density, values}].push_back(&run);
    if (run.config.count("data.plugin")) datasets.insert(text("data.plugin"));
    if (run.config.count("model.plugin")) models.insert(text("model.plugin"));
    for (const auto& [name, value] : run.metrics) {
      if (std::find(report.metrics.begin(), report.metrics.end(), name) ==
          report.metrics.end()) {
        report.metrics.push_back(name);
      }
    }
  }
  report.datasets.assign(datasets.begin(), datasets.end());
  report.models.assign(models.begin(), models.end());

  for (const auto& [key, members] : grouped) {
    ReportGroup g;
    g.method = std::get<0>(key);
    g.density = -std::get<1>(key);
    g.values = std::get<2>(key);
    for (const Run* run : members) g.runs.push_back(run->folder);
    for (const auto& name : report.metrics) {
      std::vector<double> values;
      for (const Run* run : members) {
        for (const auto& [n, v] : run->metrics) {
          if (n == name) values.push_back(v);
        }
      }
      g.stats[name] = aggregate(values);
    }
    report.groups.push_back(std::move(g));
  }
  return report;
}

std::string report_markdown(const Report& report) {
  std::string md =
      "# cigl report\n\nTest-set metrics of " +
      std::to_string(std::accumulate(report.groups.begin(), report.groups.end(),
                                     std::size_t{0},
                                     [](std::size_t n, const ReportGroup& g) {
                                       return n + g.runs.size();
                                     })) +
      " finished runs: mean +- sample standard deviation over the runs of "
      "each group; a group of one run shows its value alone.\n\n";
  md += "Groups differ in method, sparsity" +
        std::string(report.keys.empty() ? "" : ", ") + join(report.keys, ", ") +
        "; runs in a group differ only in " + join(report.averaged, ", ") +
        ".\n\n";
  md += "| method | sparsity |";
  for (const auto& k : report.keys) md += " " + k + " |";
  md += " runs |";
  for (const auto& m : report.metrics) md += " " + m + " |";
  md += "\n|";
  for (std::size_t i = 0; i < 3 + report.keys.size() + report.metrics.size();
       ++i) {
    md += " --- |";
  }
  md += "\n";
  for (const auto& g : report.groups) {
    md += "| " + g.method + " | " + percent(g.density) + " |";
    for (const auto& v : g.values) md += " " + v + " |";
    md += " " + std::to_string(g.runs.size()) + " |";
    for (const auto& m : report.metrics) {
      auto it = g.stats.find(m);
      md += " " + (it == g.stats.end() ? "-" : cell(it->second)) + " |";
    }
    md += "\n";
  }
  if (!report.unfinished.empty()) {
    md += "\n## Runs not finished (not in the table)\n\n";
    for (const auto& r : report.unfinished) md += "- " + r + "\n";
  }
  if (!sparsity_svg(report).empty()) {
    md += "\n![accuracy and ECE against sparsity](sparsity.svg)\n";
  }
  return md;
}

std::string report_csv(const Report& report) {
  std::string csv = "method,sparsity";
  for (const auto& k : report.keys) csv += "," + csv_field(k);
  csv += ",runs";
  for (const auto& m : report.metrics) {
    csv += "," + csv_field(m + "_mean") + "," + csv_field(m + "_std");
  }
  csv += "\n";
  for (const auto& g : report.groups) {
    // Rounded so 1 - 0.7 reads 0.3, not 0.30000000000000004.
    csv += csv_field(g.method) + "," +
           shortest(std::round((1 - g.density) * 1e12) / 1e12);
    for (const auto& v : g.values) csv += "," + csv_field(v);
    csv += "," + std::to_string(g.runs.size());
    for (const auto& m : report.metrics) {
      auto it = g.stats.find(m);
      const Aggregate a = it == g.stats.end() ? Aggregate{} : it->second;
      csv += "," + (a.count ? shortest(a.mean) : "") + "," +
             (std::isfinite(a.std) ? shortest(a.std) : "");
    }
    csv += "\n";
  }
  return csv;
}

std::string sparsity_svg(const Report& report) {
  // One series per method and key values; colours by series name, the same
  // in both panels.
  std::vector<std::string> names;
  auto name_of = [&](const ReportGroup& g) {
    std::string name = g.method;
    for (std::size_t i = 0; i < g.values.size(); ++i) {
      std::string key = report.keys[i];
      const auto dot = key.rfind(".plugin");
      if (dot != std::string::npos && dot + 7 == key.size()) key.resize(dot);
      name += " " + key + "=" + g.values[i];
    }
    return name;
  };
  std::vector<svg::Chart> charts;
  for (const auto& [metric, label] :
       {std::pair<const char*, const char*>{"accuracy", "accuracy"},
        {"ece", "ECE"}}) {
    svg::Chart chart{
        std::string("test ") + label, "sparsity (%)", label, {}, {}};
    for (const auto& g : report.groups) {
      auto it = g.stats.find(metric);
      if (it == g.stats.end() || it->second.count == 0) continue;
      const std::string name = name_of(g);
      auto at = std::find(names.begin(), names.end(), name);
      if (at == names.end()) at = names.insert(names.end(), name);
      const int color = static_cast<int>(at - names.begin());
      auto series = std::find_if(chart.series.begin(), chart.series.end(),
                                 [&](const auto& s) { return s.name == name; });
      if (series == chart.series.end()) {
        chart.series.push_back({name, {}, {}, {}, g.density >= 1});
        chart.colors.push_back(color);
        series = chart.series.end() - 1;
      }
      const Aggregate& a = it->second;
      series->x.push_back((1 - g.density) * 100);
      series->y.push_back(a.mean);
      series->spread.push_back(std::isfinite(a.std) ? a.std : 0.0);
    }
    // Points left to right within each line.
    for (auto& s : chart.series) {
      std::vector<std::size_t> order(s.x.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(),
                [&](auto a, auto b) { return s.x[a] < s.x[b]; });
      svg::Series sorted{s.name, {}, {}, {}, s.reference};
      for (auto i : order) {
        sorted.x.push_back(s.x[i]);
        sorted.y.push_back(s.y[i]);
        sorted.spread.push_back(s.spread[i]);
      }
      s = sorted;
    }
    if (!chart.series.empty()) charts.push_back(std::move(chart));
  }
  if (charts.empty()) return "";
  const int panel_w = 430, panel_h = 340, head = 50;
  std::string body =
      "<text x=\"" +
      std::to_string(panel_w * static_cast<int>(charts.size()) / 2) +
      "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
      svg::escape((report.models.empty() ? std::string("runs")
                                         : join(report.models, ", ")) +
                  (report.datasets.empty()
                       ? std::string()
                       : " on " + join(report.datasets, ", ")) +
                  ": test metrics against sparsity") +
      "</text>\n<text x=\"" +
      std::to_string(panel_w * static_cast<int>(charts.size()) / 2) +
      "\" y=\"40\" text-anchor=\"middle\">mean over seeds with a band of "
      "\xc2\xb1 one standard deviation; dense (0%) as a band across the "
      "range</text>\n";
  for (std::size_t i = 0; i < charts.size(); ++i) {
    body += svg::chart(charts[i], static_cast<int>(i) * panel_w, head, panel_w,
                       panel_h);
  }
  std::size_t longest = 0;
  for (const auto& n : names) longest = std::max(longest, n.size());
  const int legend_left = panel_w * static_cast<int>(charts.size()) + 10;
  std::vector<int> colors(names.size());
  for (std::size_t i = 0; i < colors.size(); ++i)
    colors[i] = static_cast<int>(i);
  int legend_height = 0;
  body += svg::legend(names, colors, legend_left, head + 34, &legend_height);
  const int width = legend_left + 30 + static_cast<int>(longest) * 7;
  return svg::document(
      width, std::max(head + panel_h, head + 40 + legend_height), body);
}

void write_report(const Report& report, const std::string& folder) {
  fs::create_directories(folder);
  write_file_atomic((fs::path(folder) / "report.md").string(),
                    report_markdown(report));
  write_file_atomic((fs::path(folder) / "report.csv").string(),
                    report_csv(report));
  const std::string svg = sparsity_svg(report);
  if (!svg.empty()) {
    write_file_atomic((fs::path(folder) / "sparsity.svg").string(), svg);
  }
}

}  // namespace cigl
