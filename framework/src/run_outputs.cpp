#include "cigl/core/run_outputs.hpp"

#include <cmath>

#include <torch/torch.h>

#include "cigl/binning.hpp"
#include "cigl/core/number_text.hpp"
#include "cigl/core/provenance.hpp"
#include "cigl/core/svg.hpp"
#include "cost_output.hpp"
#include "json_text.hpp"

namespace cigl {

namespace {

const double* find_value(const MetricValues& values, const std::string& name) {
  for (const auto& [k, v] : values) {
    if (k == name) return &v;
  }
  return nullptr;
}

// The label of the first configured metric of plugin `plugin`, or "".
std::string label_of(const ExperimentConfig& config, const char* plugin) {
  for (const auto& m : config.metrics) {
    if (m.plugin == plugin) return m.label;
  }
  return "";
}

// Wall time to the millisecond: finer digits are noise.
double milliseconds(double seconds) { return std::round(seconds * 1e3) / 1e3; }

nlohmann::ordered_json metric_object(const MetricValues& values) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [name, value] : values) out[name] = value;
  return out;
}

}  // namespace

std::string history_csv_header(const std::vector<std::string>& labels) {
  std::string out = "epoch,step,lr,train_loss";
  for (const auto& label : labels) out += ",val_" + label;
  return out + ",density,seconds\n";
}

std::string history_csv_row(const EpochRecord& r,
                            const std::vector<std::string>& labels) {
  std::string out = std::to_string(r.epoch) + "," + std::to_string(r.step) +
                    "," + shortest(r.lr) + "," + shortest(r.train_loss);
  for (const auto& label : labels) {
    out += ",";
    if (const double* v = find_value(r.validation, label)) out += shortest(*v);
  }
  return out + "," + shortest(r.density) + "," +
         shortest(milliseconds(r.seconds)) + "\n";
}

std::string predictions_csv(const torch::Tensor& probabilities,
                            const torch::Tensor& labels) {
  const auto p = probabilities.to(torch::kCPU, torch::kDouble).contiguous();
  const auto y = labels.to(torch::kCPU, torch::kLong).contiguous();
  const auto classes = p.size(1);
  std::string out = "label";
  for (std::int64_t c = 0; c < classes; ++c) out += ",p" + std::to_string(c);
  out += "\n";
  auto pa = p.accessor<double, 2>();
  auto ya = y.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < p.size(0); ++i) {
    out += std::to_string(ya[i]);
    for (std::int64_t c = 0; c < classes; ++c) out += "," + shortest(pa[i][c]);
    out += "\n";
  }
  return out;
}

std::string metrics_json(const ExperimentConfig& config,
                         const Registry& registry, const TestReport& report,
                         const RunFacts& facts) {
  nlohmann::ordered_json j;
  j["experiment"] = config.experiment.string("name");
  j["method"] = config.method.plugin;
  j["model"] = config.model.plugin;
  j["dataset"] = config.data.plugin;
  j["seed"] = config.experiment.integer("seed");
  if (!facts.evaluated_model.empty()) {
    j["evaluated_model"] = facts.evaluated_model;
  }
  j["test"] = metric_object(report.metrics);
  if (report.temperature) {
    j["temperature"] = *report.temperature;
    j["test_temperature_scaled"] = metric_object(report.scaled);
  }
  j["density"] = facts.density;
  if (facts.mask_density) j["mask_density"] = *facts.mask_density;
  j["steps"] = facts.steps;
  j["seconds"] = milliseconds(facts.seconds);
  j["costs"]["plain"] = costs_json(facts.plain);
  j["costs"]["micronet"] = costs_json(facts.micronet);
  if (!report.series.empty()) {
    auto& series = j["series"];
    for (const auto& [label, values] : report.series) {
      for (const auto& [key, v] : values) series[label][key] = v;
    }
  }
  auto& versions = j["versions"];
  versions["cigl"] = cigl_version();
  for (const auto& u : used_components(config, registry)) {
    versions[std::string(kind_name(u.kind)) + "/" + u.name] =
        u.plugin.empty() ? "built-in" : u.plugin + " " + u.plugin_version;
  }
  return json_text(j);
}

std::string run_title(const ExperimentConfig& config, double density) {
  std::string title = config.model.plugin + " on " + config.data.plugin + ", " +
                      config.method.plugin;
  if (density < 1) {
    // One decimal, none when it is a whole percentage: 90%, 89.7%.
    const double percent = std::round((1 - density) * 1000) / 10;
    title += ", " + significant(percent, 4) + "% sparse";
  } else if (config.method.plugin != "dense") {
    title += ", dense";
  }
  return title;
}

std::int64_t reliability_bin_count(const ExperimentConfig& config) {
  for (const char* plugin : {"ece", "reliability"}) {
    for (const auto& m : config.metrics) {
      if (m.plugin == plugin && m.params.has("n_bins")) {
        return m.params.integer("n_bins");
      }
    }
  }
  return 15;
}

std::string reliability_svg(const ExperimentConfig& config,
                            const TestReport& report, double density) {
  if (!report.probabilities.defined() || report.probabilities.size(0) == 0) {
    return "";
  }
  const auto bins = ConfidenceBins::of_predictions(
      report.probabilities, report.labels, reliability_bin_count(config));
  return svg::reliability_diagram(
      bins.summary(), run_title(config, density) + " (seed " +
                          std::to_string(config.experiment.integer("seed")) +
                          "), test set");
}

std::string history_svg(const ExperimentConfig& config,
                        const std::vector<EpochRecord>& records,
                        double density) {
  auto per_epoch = [&](const std::string& name, auto value) {
    svg::Series s;
    s.name = name;
    for (const auto& r : records) {
      const double v = value(r);
      s.x.push_back(static_cast<double>(r.epoch));
      s.y.push_back(v);
    }
    return s;
  };
  auto validation = [&](const std::string& label) {
    return [label](const EpochRecord& r) {
      const double* v = find_value(r.validation, label);
      return v ? *v : NAN;  // a gap where the epoch did not validate
    };
  };
  std::vector<svg::Chart> charts;
  svg::Chart loss{"loss", "epoch", "cross-entropy", {}, {}};
  loss.series.push_back(
      per_epoch("training (mean over the epoch)",
                [](const EpochRecord& r) { return r.train_loss; }));
  const std::string nll = label_of(config, "nll");
  if (!nll.empty()) {
    loss.series.push_back(per_epoch("validation", validation(nll)));
  }
  charts.push_back(loss);
  const std::string accuracy = label_of(config, "accuracy");
  if (!accuracy.empty()) {
    charts.push_back({"validation accuracy",
                      "epoch",
                      "accuracy",
                      {per_epoch(accuracy, validation(accuracy))},
                      {2}});
  }
  const std::string ece = label_of(config, "ece");
  if (!ece.empty()) {
    charts.push_back({"validation ECE",
                      "epoch",
                      "ECE",
                      {per_epoch(ece, validation(ece))},
                      {3}});
  }
  charts.push_back(
      {"learning rate (last step of the epoch)",
       "epoch",
       "learning rate",
       {per_epoch("lr", [](const EpochRecord& r) { return r.lr; })},
       {4}});
  charts.push_back(
      {"density of the maskable weights",
       "epoch",
       "density",
       {per_epoch("density", [](const EpochRecord& r) { return r.density; })},
       {5}});
  charts.back().y_min = 0;
  charts.back().y_max = 1.05;
  for (auto& c : charts) c.integer_x = true;

  const int panel_w = 360, panel_h = 260, columns = 3, head = 34;
  const int rows = static_cast<int>((charts.size() + columns - 1) / columns);
  std::string body =
      "<text x=\"" + std::to_string(panel_w * columns / 2) +
      "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
      svg::escape(config.experiment.string("name") + ": " +
                  run_title(config, density) + " (seed " +
                  std::to_string(config.experiment.integer("seed")) + ")") +
      "</text>\n";
  for (std::size_t i = 0; i < charts.size(); ++i) {
    const int col = static_cast<int>(i) % columns;
    const int row = static_cast<int>(i) / columns;
    body += svg::chart(charts[i], col * panel_w, head + row * panel_h, panel_w,
                       panel_h);
  }
  // The loss panel holds two lines: its legend goes in the free cell, or
  // under the panels.
  int legend_top = head + rows * panel_h + 6;
  int legend_left = 70;
  int height = legend_top + 20 * static_cast<int>(loss.series.size());
  if (charts.size() % columns != 0) {
    legend_left = static_cast<int>(charts.size() % columns) * panel_w + 40;
    legend_top = head + (rows - 1) * panel_h + 40;
    height = head + rows * panel_h;
  }
  std::vector<std::string> names;
  for (const auto& s : loss.series) names.push_back("loss: " + s.name);
  body += svg::legend(names, {0, 1}, legend_left, legend_top);
  return svg::document(panel_w * columns, height + 4, body);
}

}  // namespace cigl
