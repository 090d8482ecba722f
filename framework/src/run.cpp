#include "cigl/core/run.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "cigl/core/number_text.hpp"
#include "cigl/core/run_outputs.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cost_output.hpp"

namespace fs = std::filesystem;

namespace cigl {

namespace {

std::ofstream open_output(const fs::path& path) {
  std::ofstream out(path);
  if (!out) throw Error("cannot write " + path.string());
  return out;
}

}  // namespace

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

  const std::vector<std::string> labels = trainer.metric_labels();
  auto history = open_output(run_dir / "history.csv");
  history << history_csv_header(labels);

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
    log << head << "  step " << r.step << "  lr " << significant(r.lr, 6)
        << "  loss " << fixed(r.train_loss, 4);
    if (!r.validation.empty()) {
      log << "  val";
      for (const auto& [name, value] : r.validation) {
        log << " " << name << " " << fixed(value, 4);
      }
    }
    log << "  density " << fixed(r.density, 4) << "  " << fixed(r.seconds, 1)
        << "s" << std::endl;

    history << history_csv_row(r, labels);
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

  RunFacts facts;
  facts.density = summary.density;
  if (const MaskSet* masks = trainer.method().mask_set()) {
    facts.mask_density = masks->density();
  }
  facts.steps = summary.steps;
  facts.seconds = summary.seconds;
  // Of the final model (after finalize), both conventions.
  facts.plain = trainer.costs(FlopsConvention::plain);
  facts.micronet = trainer.costs(FlopsConvention::micronet);
  const CostReport& plain = facts.plain;
  open_output(run_dir / "metrics.json")
      << metrics_json(config, registry, report, facts);
  if (probabilities.defined() && probabilities.size(0) > 0) {
    open_output(run_dir / "reliability.svg")
        << reliability_svg(config, report, summary.density);
  }
  open_output(run_dir / "history.svg")
      << history_svg(config, records, summary.density);

  if (save_predictions && probabilities.defined()) {
    open_output(run_dir / "predictions.csv")
        << predictions_csv(probabilities, trainer.test_split().labels);
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
