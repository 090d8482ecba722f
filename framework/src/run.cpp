#include "cigl/core/run.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "cigl/core/calibration.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/svg.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cost_output.hpp"
#include "json.hpp"

namespace fs = std::filesystem;

namespace cigl {

namespace {

std::ofstream open_output(const fs::path& path) {
  std::ofstream out(path);
  if (!out) throw Error("cannot write " + path.string());
  return out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string general(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

static void write_pictures(const fs::path& run_dir,
                           const ExperimentConfig& config,
                           const std::vector<EpochRecord>& records,
                           const TestReport& report) {
  if (report.probabilities.defined() && report.probabilities.size(0) > 0) {
    auto bins = ReliabilityBins::from(report.probabilities, report.labels, 15);
    open_output(run_dir / "reliability.svg") << svg::reliability_diagram(
        bins, config.experiment.string("name") + ": test set");
  }
  // Training curves: loss, and validation accuracy and ECE where those
  // metrics are configured.
  svg::Series loss{"train loss", {}, {}};
  std::vector<std::pair<std::string, svg::Series>> validation;
  for (const char* wanted : {"accuracy", "ece"}) {
    for (std::size_t i = 0; i < config.metrics.size(); ++i) {
      if (config.metrics[i].plugin != wanted) continue;
      svg::Series s{"validation " + config.metrics[i].label, {}, {}};
      for (const auto& r : records) {
        if (r.validation.empty()) continue;  // not evaluated that epoch
        s.x.push_back(static_cast<double>(r.epoch));
        s.y.push_back(r.validation[i].second);
      }
      validation.emplace_back(config.metrics[i].label, s);
      break;
    }
  }
  for (const auto& r : records) {
    loss.x.push_back(static_cast<double>(r.epoch));
    loss.y.push_back(r.train_loss);
  }
  const int panel = 340;
  std::string body =
      svg::line_chart("training loss", "epoch", {loss}, 0, 0, panel, 260);
  int left = panel;
  for (const auto& [label, s] : validation) {
    body += svg::line_chart("validation " + label, "epoch", {s}, left, 0, panel,
                            260);
    left += panel;
  }
  open_output(run_dir / "history.svg") << svg::document(left, 260, body);
}

RunSummary run_experiment(const ExperimentConfig& config,
                          const Registry& registry, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cout;
  fs::path run_dir = options.run_dir;
  if (run_dir.empty()) {
    run_dir = fs::path(config.experiment.string("output_dir")) /
              config.experiment.string("name");
  }
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) {
    throw Error("cannot create run folder " + run_dir.string() + ": " +
                ec.message());
  }
  open_output(run_dir / "config.toml") << to_toml(config);

  log << "cigl: " << config.experiment.string("name") << " -> "
      << run_dir.string() << "\n"
      << "  data " << config.data.plugin << ", model " << config.model.plugin
      << ", method " << config.method.plugin << ", schedule "
      << config.schedule.plugin << std::endl;
  Trainer trainer(config, registry);
  log << "  device " << trainer.device_name() << " ("
      << torch::get_num_threads() << " CPU threads), "
      << trainer.train_split().size() << " train / "
      << trainer.validation_split().size() << " validation / "
      << trainer.test_split().size() << " test examples, "
      << trainer.total_steps() << " steps, density "
      << fixed(trainer.density(), 4) << std::endl;
  log << trainer.kernels().summary() << std::flush;

  auto history = open_output(run_dir / "history.csv");
  history << "epoch,step,lr,train_loss";
  for (const auto& m : config.metrics) history << ",val_" << m.label;
  history << ",density,seconds\n";

  const std::int64_t epochs = config.training.integer("epochs");
  const int width = static_cast<int>(std::to_string(epochs).size());
  std::vector<EpochRecord> records;
  auto on_epoch = [&](const EpochRecord& r) {
    records.push_back(r);
    if (options.progress_bar) log << "\r\033[K";
    char head[64];
    std::snprintf(head, sizeof head, "epoch %*lld/%lld", width,
                  static_cast<long long>(r.epoch),
                  static_cast<long long>(epochs));
    log << head << "  step " << r.step << "  lr " << general(r.lr) << "  loss "
        << fixed(r.train_loss, 4);
    if (!r.validation.empty()) {
      log << "  val";
      for (const auto& [name, value] : r.validation) {
        log << " " << name << " " << fixed(value, 4);
      }
    }
    log << "  density " << fixed(r.density, 4) << "  " << fixed(r.seconds, 1)
        << "s" << std::endl;

    history << r.epoch << "," << r.step << "," << json::number(r.lr) << ","
            << json::number(r.train_loss);
    for (std::size_t i = 0; i < config.metrics.size(); ++i) {
      history << ",";
      if (!r.validation.empty())
        history << json::number(r.validation[i].second);
    }
    history << "," << json::number(r.density) << "," << fixed(r.seconds, 3)
            << "\n";
    history.flush();
  };
  auto on_step = [&](std::int64_t done, std::int64_t total) {
    if (!options.progress_bar) return;
    if (done != total && done % std::max<std::int64_t>(1, total / 50) != 0) {
      return;
    }
    const int bar = 30;
    const int filled = static_cast<int>(bar * done / total);
    log << "\r  [" << std::string(filled, '#') << std::string(bar - filled, '.')
        << "] " << done << "/" << total << std::flush;
  };
  trainer.fit(on_epoch, on_step);

  const bool save_predictions = config.experiment.boolean("save_predictions");
  RunSummary summary;
  summary.run_dir = run_dir.string();
  TestReport report = trainer.test_report();
  const torch::Tensor& probabilities = report.probabilities;
  summary.test = report.metrics;
  summary.density = trainer.density();
  summary.steps = trainer.step();
  if (!records.empty()) summary.seconds = records.back().seconds;

  json::Writer w;
  w.begin_object();
  w.key("experiment").value(config.experiment.string("name"));
  w.key("method").value(config.method.plugin);
  w.key("model").value(config.model.plugin);
  w.key("dataset").value(config.data.plugin);
  w.key("seed").value(config.experiment.integer("seed"));
  w.key("test").begin_object();
  for (const auto& [name, value] : summary.test) w.key(name).value(value);
  w.end_object();
  if (report.temperature) {
    w.key("temperature").value(*report.temperature);
    w.key("test_temperature_scaled").begin_object();
    for (const auto& [name, value] : report.scaled) w.key(name).value(value);
    w.end_object();
  }
  w.key("density").value(summary.density);
  if (const MaskSet* masks = trainer.method().mask_set()) {
    w.key("mask_density").value(masks->density());
  }
  w.key("steps").value(summary.steps);
  w.key("seconds").value(summary.seconds);
  // Of the final model (after finalize), both conventions.
  const CostReport plain = trainer.costs(FlopsConvention::plain);
  w.key("costs").begin_object();
  w.key("plain");
  write_costs_json(w, plain);
  w.key("micronet");
  write_costs_json(w, trainer.costs(FlopsConvention::micronet));
  w.end_object();
  if (!report.series.empty()) {
    w.key("series").begin_object();
    for (const auto& [label, series] : report.series) {
      w.key(label).begin_object();
      for (const auto& [key, values] : series) {
        w.key(key).begin_array();
        for (double v : values) w.value(v);
        w.end_array();
      }
      w.end_object();
    }
    w.end_object();
  }
  w.end_object();
  open_output(run_dir / "metrics.json") << w.str();
  write_pictures(run_dir, config, records, report);

  if (save_predictions && probabilities.defined()) {
    auto out = open_output(run_dir / "predictions.csv");
    const auto classes = probabilities.size(1);
    out << "label";
    for (std::int64_t c = 0; c < classes; ++c) out << ",p" << c;
    out << "\n";
    auto labels = trainer.test_split().labels.cpu();
    auto p = probabilities.accessor<double, 2>();
    auto y = labels.accessor<std::int64_t, 1>();
    char buf[32];
    for (std::int64_t i = 0; i < probabilities.size(0); ++i) {
      out << y[i];
      for (std::int64_t c = 0; c < classes; ++c) {
        std::snprintf(buf, sizeof buf, ",%.6g", p[i][c]);
        out << buf;
      }
      out << "\n";
    }
  }

  log << "test";
  for (const auto& [name, value] : summary.test) {
    log << "  " << name << " " << fixed(value, 4);
  }
  log << "  density " << fixed(summary.density, 4) << "\n";
  log << "costs: " << costs_summary(plain) << "\n";
  if (report.temperature) {
    log << "after temperature scaling (T = " << fixed(*report.temperature, 3)
        << "):";
    for (const auto& [name, value] : report.scaled) {
      log << "  " << name << " " << fixed(value, 4);
    }
    log << "\n";
  }
  log << "results in " << run_dir.string() << std::endl;
  return summary;
}

}  // namespace cigl
