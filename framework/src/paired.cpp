#include "cigl/core/paired.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "cigl/error.hpp"

namespace fs = std::filesystem;

namespace cigl {

namespace {

/// The regularized incomplete beta function I_x(a, b) by its continued
/// fraction (modified Lentz), used where it converges fast.
double beta_fraction(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double f = d;
  for (int m = 1; m <= 300; ++m) {
    const double dm = m;
    double numerator = dm * (b - dm) * x / ((a + 2 * dm - 1) * (a + 2 * dm));
    for (int half = 0; half < 2; ++half) {
      d = 1 + numerator * d;
      if (std::abs(d) < tiny) d = tiny;
      c = 1 + numerator / c;
      if (std::abs(c) < tiny) c = tiny;
      d = 1 / d;
      f *= c * d;
      numerator =
          -(a + dm) * (a + b + dm) * x / ((a + 2 * dm) * (a + 2 * dm + 1));
    }
    if (std::abs(c * d - 1) < 1e-15) break;
  }
  return f;
}

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
               a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

/// P(T <= t) for Student's t with `df` degrees of freedom.
double student_t_cdf(double t, double df) {
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}

std::string text_of(const toml::node* node) {
  if (!node) return "";
  if (auto s = node->value_exact<std::string>()) return *s;
  if (auto b = node->value_exact<bool>()) return *b ? "true" : "false";
  if (auto i = node->value_exact<std::int64_t>()) return std::to_string(*i);
  if (auto d = node->value_exact<double>()) {
    std::ostringstream out;
    out.precision(17);
    out << *d;
    return out.str();
  }
  return "";
}

/// Whether the config value at `node` is `wanted`: numbers compare as
/// numbers (0.1 matches 0.10), everything else as text.
bool matches(const toml::node* node, const std::string& wanted) {
  if (!node) return false;
  if (node->is_number()) {
    char* end = nullptr;
    const double w = std::strtod(wanted.c_str(), &end);
    if (end == wanted.c_str() || *end != '\0') return false;
    const double v = *node->value<double>();
    return std::abs(v - w) <= 1e-12 * std::max(1.0, std::abs(w));
  }
  return text_of(node) == wanted;
}

std::string fixed(double v, int digits = 4) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%+.*f", digits, v);
  return buf;
}

std::string plain(double v, int digits = 4) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1) || !(df > 0)) {
    throw Error("student_t_quantile: needs 0 < p < 1 and df > 0");
  }
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < p) hi *= 2;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

RunSelection parse_selection(const std::string& text) {
  RunSelection s;
  s.text = text;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      throw ConfigError("'" + text +
                        "': expected key=value[,key=value...], e.g. "
                        "method.plugin=cigl,averaging.enabled=true");
    }
    s.conditions.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  if (s.conditions.empty()) throw ConfigError("an empty run selection");
  return s;
}

PairedComparison compare_paired(const std::vector<std::string>& roots,
                                const RunSelection& a, const RunSelection& b,
                                const std::vector<std::string>& metrics) {
  struct Run {
    std::string folder;
    double density = 1;
    std::string seed;
    std::map<std::string, double> values;
  };
  std::vector<Run> runs_a, runs_b;
  std::vector<fs::path> folders;
  for (const auto& root : roots) {
    if (!fs::is_directory(root)) throw Error(root + ": not a folder");
    if (fs::exists(fs::path(root) / "config.toml")) folders.emplace_back(root);
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_directory() && fs::exists(entry.path() / "config.toml")) {
        folders.push_back(entry.path());
      }
    }
  }
  std::sort(folders.begin(), folders.end());
  folders.erase(std::unique(folders.begin(), folders.end()), folders.end());
  PairedComparison out{a, b, {}, {}};
  for (const auto& folder : folders) {
    toml::table config;
    try {
      config = toml::parse_file((folder / "config.toml").string());
    } catch (const std::exception&) {
      continue;  // cigl-report lists unreadable runs
    }
    auto selected = [&](const RunSelection& s) {
      return std::all_of(
          s.conditions.begin(), s.conditions.end(), [&](const auto& c) {
            return matches(config.at_path(c.first).node(), c.second);
          });
    };
    const bool in_a = selected(a), in_b = selected(b);
    if (!in_a && !in_b) continue;
    if (in_a && in_b) {
      throw ConfigError(folder.string() + " matches both '" + a.text +
                        "' and '" + b.text + "'");
    }
    std::ifstream file(folder / "metrics.json");
    nlohmann::json json = nlohmann::json::parse(file, nullptr, false);
    if (json.is_discarded() || !json.contains("test")) {
      out.unpaired.push_back(folder.string() + ": no finished metrics.json");
      continue;
    }
    Run run;
    run.folder = folder.string();
    run.density =
        config.at_path("method.density").value<double>().value_or(1.0);
    run.seed = text_of(config.at_path("experiment.seed").node());
    for (const auto& m : metrics) {
      // A test metric, or a top-level number of metrics.json (density).
      auto v = json["test"].value(m, nlohmann::json());
      if (!v.is_number()) v = json.value(m, nlohmann::json());
      if (v.is_number()) run.values[m] = v.get<double>();
    }
    (in_a ? runs_a : runs_b).push_back(std::move(run));
  }

  // Pairs by (density, seed); each run pairs at most once.
  std::map<double, std::vector<std::pair<const Run*, const Run*>>> pairs;
  std::vector<bool> used(runs_b.size(), false);
  for (const auto& ra : runs_a) {
    bool paired = false;
    for (std::size_t j = 0; j < runs_b.size() && !paired; ++j) {
      if (used[j] || runs_b[j].seed != ra.seed ||
          std::abs(runs_b[j].density - ra.density) > 1e-12) {
        continue;
      }
      used[j] = paired = true;
      pairs[-ra.density].emplace_back(&ra, &runs_b[j]);
    }
    if (!paired) out.unpaired.push_back(ra.folder + ": no partner in B");
  }
  for (std::size_t j = 0; j < runs_b.size(); ++j) {
    if (!used[j])
      out.unpaired.push_back(runs_b[j].folder + ": no partner in A");
  }

  for (const auto& [negative_density, group] : pairs) {
    for (const auto& m : metrics) {
      std::vector<double> va, vb, d;
      for (const auto& [ra, rb] : group) {
        auto ia = ra->values.find(m), ib = rb->values.find(m);
        if (ia == ra->values.end() || ib == rb->values.end()) continue;
        va.push_back(ia->second);
        vb.push_back(ib->second);
        d.push_back(ia->second - ib->second);
      }
      if (d.empty()) continue;
      PairedRow row;
      row.density = -negative_density;
      row.metric = m;
      row.pairs = d.size();
      const double n = static_cast<double>(d.size());
      for (std::size_t i = 0; i < d.size(); ++i) {
        row.mean_a += va[i] / n;
        row.mean_b += vb[i] / n;
        row.mean_difference += d[i] / n;
        if (va[i] < vb[i]) ++row.a_lower;
      }
      double ss = 0;
      for (double x : d)
        ss += (x - row.mean_difference) * (x - row.mean_difference);
      row.sd_difference = d.size() > 1 ? std::sqrt(ss / (n - 1)) : 0;
      const double half = d.size() > 1 ? student_t_quantile(0.975, n - 1) *
                                             row.sd_difference / std::sqrt(n)
                                       : std::nan("");
      row.ci_low = row.mean_difference - half;
      row.ci_high = row.mean_difference + half;
      out.rows.push_back(row);
    }
  }
  return out;
}

std::string paired_markdown(const PairedComparison& c) {
  std::ostringstream md;
  md << "A = `" << c.a.text << "`, B = `" << c.b.text
     << "`; pairs share density and seed. Difference A - B: mean, sample "
        "standard deviation and 95% Student t interval over the pairs; "
        "\"A lower\" counts the pairs where A's value is below B's.\n\n"
     << "| sparsity | metric | pairs | A | B | A - B | sd | 95% CI | A lower "
        "|\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& r : c.rows) {
    char sparsity[32];
    std::snprintf(sparsity, sizeof sparsity, "%g%%",
                  std::round((1 - r.density) * 1000) / 10);
    md << "| " << sparsity << " | " << r.metric << " | " << r.pairs << " | "
       << plain(r.mean_a) << " | " << plain(r.mean_b) << " | "
       << fixed(r.mean_difference) << " | " << plain(r.sd_difference) << " | ";
    if (r.pairs > 1) {
      md << "[" << fixed(r.ci_low) << ", " << fixed(r.ci_high) << "]";
    } else {
      md << "-";
    }
    md << " | " << r.a_lower << "/" << r.pairs << " |\n";
  }
  if (!c.unpaired.empty()) {
    md << "\nNot paired:\n\n";
    for (const auto& u : c.unpaired) md << "- " << u << "\n";
  }
  return md.str();
}

std::string paired_csv(const PairedComparison& c) {
  std::ostringstream csv;
  csv.precision(17);
  csv << "sparsity,metric,pairs,mean_a,mean_b,mean_difference,"
         "sd_difference,ci_low,ci_high,a_lower\n";
  for (const auto& r : c.rows) {
    csv << 1 - r.density << "," << r.metric << "," << r.pairs << "," << r.mean_a
        << "," << r.mean_b << "," << r.mean_difference << "," << r.sd_difference
        << ",";
    if (r.pairs > 1)
      csv << r.ci_low << "," << r.ci_high;
    else
      csv << ",";
    csv << "," << r.a_lower << "\n";
  }
  return csv.str();
}

}  // namespace cigl
