#include "cigl/core/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "cigl/core/svg.hpp"
#include "cigl/error.hpp"
#include "json.hpp"

namespace fs = std::filesystem;

namespace cigl {

namespace {

std::string read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string text_of(const toml::node* node) {
  if (!node) return "-";
  if (auto s = node->value_exact<std::string>()) return *s;
  if (auto b = node->value_exact<bool>()) return *b ? "true" : "false";
  if (auto i = node->value_exact<std::int64_t>()) return std::to_string(*i);
  if (auto d = node->value_exact<double>()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", *d);
    return buf;
  }
  return "(table)";
}

std::string pct(double density) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", std::round((1 - density) * 1000) / 10);
  return buf;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

std::ofstream create(const fs::path& file) {
  std::ofstream out(file);
  if (!out) throw Error("cannot write " + file.string());
  return out;
}

}  // namespace

Report build_report(const std::vector<std::string>& roots,
                    const std::vector<std::string>& by_keys) {
  std::vector<fs::path> runs;
  for (const auto& root : roots) {
    if (!fs::is_directory(root)) throw Error(root + ": not a folder");
    if (fs::exists(fs::path(root) / "config.toml")) runs.emplace_back(root);
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_directory() && fs::exists(entry.path() / "config.toml")) {
        runs.push_back(entry.path());
      }
    }
  }
  std::sort(runs.begin(), runs.end());
  runs.erase(std::unique(runs.begin(), runs.end()), runs.end());

  Report report;
  report.by_keys = by_keys;
  struct Sample {
    std::vector<std::pair<std::string, double>> values;
  };
  std::map<std::tuple<std::string, double, std::vector<std::string>>,
           std::pair<std::vector<std::string>, std::vector<Sample>>>
      grouped;
  for (const auto& run : runs) {
    const auto metrics_file = run / "metrics.json";
    if (!fs::exists(metrics_file)) {
      report.incomplete.push_back(run.string() +
                                  ": no metrics.json (unfinished or failed)");
      continue;
    }
    toml::table config;
    json::Value metrics;
    try {
      config = toml::parse_file((run / "config.toml").string());
      metrics = json::parse(read(metrics_file));
    } catch (const std::exception& e) {
      report.incomplete.push_back(run.string() + ": unreadable (" + e.what() +
                                  ")");
      continue;
    }
    const json::Value* test = metrics.find("test");
    if (!test || test->type != json::Value::Type::object) {
      report.incomplete.push_back(run.string() + ": metrics.json has no test");
      continue;
    }
    Sample sample;
    auto add = [&](const std::string& prefix, const json::Value* object) {
      if (!object) return;
      for (const auto& [name, v] : object->object) {
        if (v.type != json::Value::Type::number) continue;
        sample.values.emplace_back(prefix + name, v.number);
      }
    };
    add("", test);
    add("scaled_", metrics.find("test_temperature_scaled"));
    if (const auto* d = metrics.find("density")) {
      sample.values.emplace_back("density", d->number);
    }
    for (const auto& [name, value] : sample.values) {
      if (std::find(report.metrics.begin(), report.metrics.end(), name) ==
          report.metrics.end()) {
        report.metrics.push_back(name);
      }
    }
    const std::string method = text_of(config.at_path("method.plugin").node());
    const double density =
        config.at_path("method.density").value<double>().value_or(1.0);
    std::vector<std::string> by;
    for (const auto& key : by_keys)
      by.push_back(text_of(config.at_path(key).node()));
    auto& slot = grouped[{method, -density, by}];
    slot.first.push_back(run.string());
    slot.second.push_back(std::move(sample));
  }
  for (auto& [key, slot] : grouped) {
    ReportGroup g;
    g.method = std::get<0>(key);
    g.density = -std::get<1>(key);
    g.by = std::get<2>(key);
    g.runs = slot.first;
    for (const auto& name : report.metrics) {
      std::vector<double> values;
      for (const auto& s : slot.second) {
        for (const auto& [n, v] : s.values) {
          if (n == name) values.push_back(v);
        }
      }
      if (values.empty()) continue;
      double mean = 0;
      for (double v : values) mean += v;
      mean /= static_cast<double>(values.size());
      double var = 0;
      for (double v : values) var += (v - mean) * (v - mean);
      var =
          values.size() > 1 ? var / static_cast<double>(values.size() - 1) : 0;
      g.stats[name] = {mean, std::sqrt(var)};
    }
    report.groups.push_back(std::move(g));
  }
  return report;
}

void write_report(const Report& report, const std::string& folder) {
  fs::create_directories(folder);
  auto md = create(fs::path(folder) / "report.md");
  md << "# cigl report\n\n"
     << "Mean +- sample standard deviation over the runs of each group "
        "(test set).\n\n| method | sparsity |";
  for (const auto& k : report.by_keys) md << " " << k << " |";
  md << " runs |";
  for (const auto& m : report.metrics) md << " " << m << " |";
  md << "\n| --- | --- |";
  for (std::size_t i = 0; i < report.by_keys.size() + 1 + report.metrics.size();
       ++i) {
    md << " --- |";
  }
  md << "\n";
  auto csv = create(fs::path(folder) / "report.csv");
  csv << "method,sparsity";
  for (const auto& k : report.by_keys) csv << "," << k;
  csv << ",runs";
  for (const auto& m : report.metrics)
    csv << "," << m << "_mean," << m << "_std";
  csv << "\n";
  for (const auto& g : report.groups) {
    md << "| " << g.method << " | " << pct(g.density) << " |";
    csv << g.method << "," << 1 - g.density;
    for (const auto& v : g.by) {
      md << " " << v << " |";
      csv << "," << v;
    }
    md << " " << g.runs.size() << " |";
    csv << "," << g.runs.size();
    for (const auto& m : report.metrics) {
      auto it = g.stats.find(m);
      if (it == g.stats.end()) {
        md << " - |";
        csv << ",,";
        continue;
      }
      md << " " << fmt(it->second.first) << " +- " << fmt(it->second.second)
         << " |";
      csv << "," << json::number(it->second.first) << ","
          << json::number(it->second.second);
    }
    md << "\n";
    csv << "\n";
  }
  if (!report.incomplete.empty()) {
    md << "\n## Incomplete or failed runs (not in the table)\n\n";
    for (const auto& r : report.incomplete) md << "- " << r << "\n";
  }
  md << "\n![accuracy and ECE against sparsity](sparsity.svg)\n";

  // Accuracy and ECE against sparsity, one line per method (and --by).
  std::string body;
  int left = 0;
  for (const char* metric : {"accuracy", "ece"}) {
    std::vector<svg::Series> lines;
    for (const auto& g : report.groups) {
      auto it = g.stats.find(metric);
      if (it == g.stats.end()) continue;
      std::string name = g.method;
      for (const auto& v : g.by) name += " " + v;
      auto line = std::find_if(lines.begin(), lines.end(),
                               [&](const auto& s) { return s.name == name; });
      if (line == lines.end()) {
        lines.push_back({name, {}, {}});
        line = lines.end() - 1;
      }
      line->x.push_back((1 - g.density) * 100);
      line->y.push_back(it->second.first);
    }
    // Dense is a reference level across the sparsities of the others, as
    // in the CigL paper's figure, rather than a lone point at 0%.
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& s : lines) {
      for (double x : s.x) {
        if (x > 0) lo = std::min(lo, x), hi = std::max(hi, x);
      }
    }
    for (auto& s : lines) {
      if (s.x.size() == 1 && s.x[0] == 0 && std::isfinite(lo)) {
        s.x = {lo, hi};
        s.y = {s.y[0], s.y[0]};
      }
    }
    body += svg::line_chart(std::string(metric) + " against sparsity",
                            "sparsity (%)", lines, left, 0, 420, 320);
    left += 420;
  }
  create(fs::path(folder) / "sparsity.svg") << svg::document(left, 320, body);
}

}  // namespace cigl
