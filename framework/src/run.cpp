#include "cigl/core/run.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cigl/error.hpp"
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

  auto history = open_output(run_dir / "history.csv");
  history << "epoch,step,lr,train_loss";
  for (const auto& m : config.metrics) history << ",val_" << m.label;
  history << ",density,seconds\n";

  const std::int64_t epochs = config.training.integer("epochs");
  const int width = static_cast<int>(std::to_string(epochs).size());
  auto on_epoch = [&](const EpochRecord& r) {
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
  torch::Tensor probabilities;
  RunSummary summary;
  summary.run_dir = run_dir.string();
  summary.test = trainer.test(save_predictions ? &probabilities : nullptr);
  summary.density = trainer.density();
  summary.steps = trainer.step();

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
  w.key("density").value(summary.density);
  w.key("steps").value(summary.steps);
  w.end_object();
  open_output(run_dir / "metrics.json") << w.str();

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
  log << "  density " << fixed(summary.density, 4) << "\n"
      << "results in " << run_dir.string() << std::endl;
  return summary;
}

}  // namespace cigl
