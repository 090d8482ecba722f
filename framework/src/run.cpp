#include "cigl/core/run.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>

#include <torch/torch.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "cigl/core/checkpoint.hpp"
#include "cigl/core/files.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/model_file.hpp"
#include "cigl/core/number_text.hpp"
#include "cigl/core/provenance.hpp"
#include "cigl/core/run_folder.hpp"
#include "cigl/core/run_outputs.hpp"
#include "cigl/core/signals.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cost_output.hpp"
#include "rank0.hpp"

namespace fs = std::filesystem;

namespace cigl {

Interrupted::Interrupted(int signal, bool checkpoint, const std::string& what)
    : Error(what), signal_(signal), checkpoint_(checkpoint) {}
Interrupted::~Interrupted() = default;

namespace {

/// Every result file of a finished run (or evaluation), each written
/// atomically; predictions.csv only when asked for (a stale one is gone
/// already: the folder was cleared when the run started).
void write_results(const RunFolder& folder, const ExperimentConfig& config,
                   const Registry& registry, Trainer& trainer,
                   const TestReport& report, const RunSummary& summary,
                   const std::vector<EpochRecord>& records,
                   const std::string& evaluated) {
  RunFacts facts;
  facts.density = summary.density;
  const MaskSet* masks = trainer.method().mask_set();
  if (masks && evaluated.empty()) facts.mask_density = masks->density();
  facts.steps = summary.steps;
  facts.seconds = summary.seconds;
  facts.plain = trainer.costs(FlopsConvention::plain);
  facts.micronet = trainer.costs(FlopsConvention::micronet);
  facts.evaluated_model = evaluated;
  write_file_atomic(folder.file("metrics.json"),
                    metrics_json(config, registry, report, facts));
  kill_point("outputs");
  if (report.probabilities.defined() && report.probabilities.size(0) > 0) {
    write_file_atomic(folder.file("reliability.svg"),
                      reliability_svg(config, report, summary.density));
  }
  if (!records.empty()) {
    write_file_atomic(folder.file("history.svg"),
                      history_svg(config, records, summary.density));
  }
  if (config.experiment.boolean("save_predictions") &&
      report.probabilities.defined()) {
    write_file_atomic(folder.file("predictions.csv"),
                      predictions_csv(report.probabilities, report.labels));
  }
  if (evaluated.empty()) {
    ModelFile model =
        model_file_of(*trainer.model(), trainer.method().mask_set());
    model.info = {{"cigl_version", cigl_version()},
                  {"experiment", config.experiment.string("name")},
                  {"model", config.model.plugin},
                  {"method", config.method.plugin},
                  {"dataset", config.data.plugin},
                  {"seed", std::to_string(config.experiment.integer("seed"))},
                  {"density", shortest(summary.density)}};
    write_model_file(folder.file("model.pt"), model);
  }
}

void log_test(std::ostream& log, const RunSummary& summary,
              const TestReport& report, const CostReport& plain) {
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
}

/// The resolved config text that identifies a run (the file it was read
/// from left out).
std::string identity_text(ExperimentConfig config) {
  config.source.clear();
  return to_toml(config);
}

/// Whether the folder's config.toml resolves to the same run as `config`.
bool same_config(const RunFolder& folder, const ExperimentConfig& config,
                 const Registry& registry) {
  try {
    auto saved =
        ConfigDocument::from_file(folder.file("config.toml")).resolve(registry);
    return identity_text(saved) == identity_text(config);
  } catch (const std::exception&) {
    return false;  // unreadable or no longer valid: not this config
  }
}

std::string state_text(const RunFolderContents& found) {
  if (!found.status) return found.has_metrics ? "done" : "unfinished";
  const RunStatus& s = *found.status;
  // The lock is ours, so a folder still marked running lost its process.
  std::string out = s.state == RunState::running
                        ? std::string("killed while running")
                        : run_state_name(s.state);
  if (s.epochs > 0 && s.state != RunState::done) {
    out += " at epoch " + std::to_string(s.epoch) + " of " +
           std::to_string(s.epochs);
  }
  return out;
}

enum class Plan { start, resume, finished };

/// What to do with what the folder holds, by `policy`; clears the folder
/// when the run starts over. Throws ConfigError where it must not go on.
Plan plan_run(RunFolder& folder, const ExperimentConfig& config,
              const Registry& registry, ExistingRun policy) {
  const RunFolderContents& found = folder.contents();
  const std::string& dir = folder.dir();
  if (!found.is_run) {
    if (!found.empty) {
      throw ConfigError(dir +
                        " is not empty and holds no cigl run (no status.json "
                        "or config.toml); choose a new or empty folder");
    }
    if (policy == ExistingRun::resume) {
      throw ConfigError(dir + " holds no run to resume");
    }
    return Plan::start;
  }
  if (policy == ExistingRun::overwrite) {
    folder.clear_outputs();
    return Plan::start;
  }
  const bool same = same_config(folder, config, registry);
  const std::string state = state_text(found);
  if (!same) {
    if (policy == ExistingRun::continue_or_restart) {
      folder.clear_outputs();
      return Plan::start;
    }
    throw ConfigError(dir + " holds a run of another config (" + state +
                      "); --overwrite replaces it, or choose another "
                      "--output");
  }
  if (found.finished()) {
    if (policy == ExistingRun::refuse) {
      throw ConfigError(dir +
                        " already holds a finished run of this config; "
                        "--overwrite runs it again");
    }
    return Plan::finished;
  }
  if (found.has_checkpoint) {
    if (policy == ExistingRun::refuse) {
      throw ConfigError(dir + " holds an unfinished run of this config (" +
                        state + "); continue it with --resume " + dir +
                        ", or start over with --overwrite");
    }
    return Plan::resume;
  }
  if (policy == ExistingRun::resume) {
    throw ConfigError(dir + " has no checkpoint.pt to resume from (" + state +
                      "); --overwrite starts the run again");
  }
  folder.clear_outputs();  // a failed attempt at this same run
  return Plan::start;
}

/// A finished folder's summary, read back from its metrics.json.
RunSummary summary_of_finished(const RunFolder& folder) {
  RunSummary summary;
  summary.run_dir = folder.dir();
  summary.already_finished = true;
  const auto json = nlohmann::ordered_json::parse(
      read_file(folder.file("metrics.json")), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw Error(folder.file("metrics.json") +
                ": not valid JSON; --overwrite runs the experiment again");
  }
  if (json.contains("test") && json["test"].is_object()) {
    for (const auto& [name, value] : json["test"].items()) {
      summary.test.emplace_back(
          name, value.is_number() ? value.get<double>()
                                  : std::numeric_limits<double>::quiet_NaN());
    }
  }
  summary.density = json.value("density", 1.0);
  summary.steps = json.value("steps", std::int64_t{0});
  summary.seconds = json.value("seconds", 0.0);
  return summary;
}

/// Marks the folder failed, unless the failure is the folder itself.
void record_failure(RunFolder& folder, RunStatus status,
                    const std::string& what) {
  status.state = RunState::failed;
  status.reason = what.substr(0, what.find('\n'));
  try {
    folder.write_status(status);
  } catch (const std::exception&) {
    // The disk may be what failed; the error itself still reaches the user.
  }
}

}  // namespace

FollowingRankStopped::FollowingRankStopped(int exit_code,
                                           const std::string& what)
    : Error(what), exit_code_(exit_code) {}
FollowingRankStopped::~FollowingRankStopped() = default;

RunSummary run_experiment(const ExperimentConfig& config,
                          const Registry& registry, const RunOptions& options) {
  // With several ranks, rank 0 owns the folder and writes everything; the
  // others train beside it, silently.
  Communicator* ranks = options.ranks.get();
  const bool writer = !ranks || ranks->rank() == 0;
  std::ostream silent(nullptr);
  std::ostream& log =
      !writer ? silent : (options.log ? *options.log : std::cout);
  fs::path run_dir = options.run_dir;
  if (run_dir.empty()) {
    run_dir = fs::path(config.experiment.string("output_dir")) /
              config.experiment.string("name");
  }
  std::optional<RunFolder> folder;
  const auto plan = static_cast<Plan>(decided_on_rank0(ranks, [&] {
    folder.emplace(run_dir.string());
    return static_cast<int>(
        plan_run(*folder, config, registry, options.existing));
  }));
  if (plan == Plan::finished) {
    log << "cigl: " << run_dir.string()
        << " already holds this run, finished; results in " << run_dir.string()
        << std::endl;
    if (!writer) {
      RunSummary summary;
      summary.run_dir = run_dir.string();
      summary.already_finished = true;
      return summary;
    }
    return summary_of_finished(*folder);
  }

  const std::int64_t epochs = config.training.integer("epochs");
  RunStatus status;
  status.epochs = epochs;
  decided_on_rank0(ranks, [&] {
    try {
      if (plan == Plan::start) {
        write_file_atomic(folder->file("config.toml"), to_toml(config));
      }
      folder->write_status(status);
    } catch (const std::exception& e) {
      record_failure(*folder, status, e.what());
      throw;
    }
    return 0;
  });

  log << "cigl: " << config.experiment.string("name") << " -> "
      << run_dir.string() << "\n"
      << "  data " << config.data.plugin << ", model " << config.model.plugin
      << ", method " << config.method.plugin << ", schedule "
      << config.schedule.plugin << std::endl;
  const std::string checkpoint_file = (run_dir / "checkpoint.pt").string();
  const std::int64_t checkpoint_every =
      config.experiment.integer("checkpoint_every");
  const double checkpoint_seconds =
      60.0 * config.experiment.number("checkpoint_minutes");
  const bool checkpoints = checkpoint_every > 0;
  auto stop_signal = options.stop_signal
                         ? options.stop_signal
                         : std::function<int()>(cigl::stop_signal);

  try {
    Trainer trainer(config, registry, Trainer::Mode::train, options.ranks);
    std::size_t warned = 0;  // trainer warnings printed so far
    auto print_warnings = [&] {
      for (; warned < trainer.warnings().size(); ++warned) {
        log << "warning: " << trainer.warnings()[warned] << std::endl;
      }
    };
    print_warnings();
    const BuildInfo build = current_build(config, registry);
    std::vector<EpochRecord> records;
    if (plan == Plan::resume) {
      // Rank 0 reads and checks the checkpoint; every rank loads its
      // bytes, so the ranks need not share a file system.
      std::string bytes;
      decided_on_rank0(ranks, [&] {
        bytes = read_file(checkpoint_file);
        const Checkpoint saved = read_checkpoint(checkpoint_file);
        const std::string differences = build_differences(saved.build, build);
        if (!differences.empty() && !options.force) {
          throw ConfigError(checkpoint_file +
                            " was written by another build (" + differences +
                            "); it may not continue the same run: use the "
                            "build it names, or --force to resume anyway");
        }
        const int world = trainer.ranks().world_size();
        if (saved.world_size != world && !options.force) {
          throw ConfigError(
              checkpoint_file + " was written by a run of " +
              std::to_string(saved.world_size) + " rank(s), this one has " +
              std::to_string(world) +
              ": resume with as many (cigl-run --nproc " +
              std::to_string(saved.world_size) +
              ", or as many torchrun or Slurm tasks), or --force to continue "
              "at this size (not exactly the same run)");
        }
        return 0;
      });
      if (ranks) share_bytes(*ranks, bytes);
      records = load_checkpoint_bytes(bytes, checkpoint_file, trainer).records;
      log << "  resumed from " << checkpoint_file << ": epoch "
          << trainer.epoch() << " of " << epochs << ", step " << trainer.step()
          << std::endl;
    }
    // history.csv: the header at once, then a row per epoch; after a
    // resume exactly the checkpoint's epochs, each once.
    const std::vector<std::string> labels = trainer.metric_labels();
    AppendFile history;
    if (writer) {
      std::string history_text = history_csv_header(labels);
      for (const auto& r : records) history_text += history_csv_row(r, labels);
      write_file_atomic(folder->file("history.csv"), history_text);
      history = AppendFile(folder->file("history.csv"));
    }

    log << "  device " << trainer.device_name() << " ("
        << torch::get_num_threads() << " CPU threads";
    if (ranks) {
      log << " each), " << ranks->world_size() << " ranks (" << ranks->backend()
          << ")";
    } else {
      log << ")";
    }
    log << ", " << trainer.train_split().size() << " train / "
        << trainer.validation_split().size() << " validation / "
        << trainer.test_split().size() << " test examples, "
        << trainer.total_steps() << " steps, density "
        << fixed(trainer.density(), 4) << std::endl;
    log << trainer.kernels().summary() << std::flush;

    auto last_checkpoint = std::chrono::steady_clock::now();
    auto save = [&] {
      const std::string bytes = checkpoint_bytes(trainer, records, build);
      if (writer) write_file_atomic(checkpoint_file, bytes);
      last_checkpoint = std::chrono::steady_clock::now();
      status.checkpoint = true;
    };
    auto update_status = [&] {
      status.epoch = trainer.epoch();
      status.step = trainer.step();
      if (writer) folder->write_status(status);
    };

    const int width = static_cast<int>(std::to_string(epochs).size());
    // The stop signal every rank acts on: with several ranks, agreed after
    // each step (one small all-reduce), so all stop at the same step.
    int agreed_signal = 0;
    FitHooks hooks;
    hooks.on_epoch = [&](const EpochRecord& r) {
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
      print_warnings();
      if (writer) history.append(history_csv_row(r, labels));
      // Every N epochs and after the last, so the final evaluation can
      // be redone after a kill without training again.
      if (checkpoints &&
          (r.epoch % checkpoint_every == 0 || r.epoch == epochs)) {
        save();
      }
      update_status();
    };
    hooks.on_step = [&](std::int64_t done, std::int64_t total) {
      kill_point("step", trainer.step());
      bool due = checkpoints && checkpoint_seconds > 0 &&
                 std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - last_checkpoint)
                         .count() >= checkpoint_seconds;
      agreed_signal = stop_signal();
      if (ranks) {
        // Any rank's signal stops all; rank 0's clock times checkpoints.
        std::vector<torch::Tensor> flags{
            torch::tensor({static_cast<std::int64_t>(agreed_signal),
                           static_cast<std::int64_t>(due && writer)},
                          torch::kLong)};
        ranks->all_reduce(flags, ReduceOp::max);
        agreed_signal = static_cast<int>(flags[0][0].item<std::int64_t>());
        due = flags[0][1].item<std::int64_t>() != 0;
      }
      if (due) {
        save();
        update_status();
      }
      if (!options.progress_bar || !writer) return;
      if (done != total && done % std::max<std::int64_t>(1, total / 50) != 0) {
        return;
      }
      const int bar = 30;
      const int filled = static_cast<int>(bar * done / total);
      log << "\r  [" << std::string(filled, '#')
          << std::string(bar - filled, '.') << "] " << done << "/" << total
          << std::flush;
    };
    hooks.stop = [&] {
      // A single process looks again (a signal during validation stops it
      // before the next epoch); ranks keep what they agreed after the
      // last step, and a later signal stops them after the next.
      if (!ranks) agreed_signal = stop_signal();
      return agreed_signal != 0;
    };

    if (!trainer.fit(hooks)) {
      const int signal = agreed_signal;
      if (options.progress_bar) log << "\r\033[K";
      if (checkpoints) save();
      status.state = RunState::interrupted;
      status.reason = signal_name(signal);
      update_status();
      std::string what = "interrupted by " + signal_name(signal) +
                         " at epoch " + std::to_string(trainer.epoch()) +
                         " of " + std::to_string(epochs) + ", step " +
                         std::to_string(trainer.step());
      what += checkpoints ? "; checkpoint written: continue with cigl-run "
                            "--resume " +
                                run_dir.string()
                          : " (checkpoints are off: "
                            "experiment.checkpoint_every = 0)";
      throw Interrupted(signal, checkpoints, what);
    }
    if (writer) history.close();

    RunSummary summary;
    summary.run_dir = run_dir.string();
    kill_point("test");
    TestReport report = trainer.test_report();
    summary.test = report.metrics;
    summary.density = trainer.density();
    summary.steps = trainer.step();
    summary.seconds = trainer.train_seconds();
    if (writer) {
      write_results(*folder, config, registry, trainer, report, summary,
                    records, "");
      status.state = RunState::done;
      status.checkpoint = false;
      update_status();
      // Done and recorded: the checkpoint has served its purpose.
      std::error_code ec;
      fs::remove(checkpoint_file, ec);
    }

    log_test(log, summary, report, trainer.costs(FlopsConvention::plain));
    log << "results in " << run_dir.string() << std::endl;
    return summary;
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    if (writer) record_failure(*folder, status, e.what());
    throw;
  }
}

RunSummary evaluate_run(const std::string& model_path,
                        const ExperimentConfig& config,
                        const Registry& registry, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cout;
  const ModelFile model = read_model_file(model_path);
  RunFolder folder(options.run_dir);
  if (plan_run(folder, config, registry,
               options.existing == ExistingRun::overwrite
                   ? ExistingRun::overwrite
                   : ExistingRun::refuse) != Plan::start) {
    throw ConfigError(folder.dir() + " already holds an evaluation");
  }
  RunStatus status;
  try {
    write_file_atomic(folder.file("config.toml"), to_toml(config));
    folder.write_status(status);
    log << "cigl: evaluating " << model_path << " on " << config.data.plugin
        << " -> " << folder.dir() << std::endl;
    Trainer trainer(config, registry);
    trainer.use_final_model(model.state);
    RunSummary summary;
    summary.run_dir = folder.dir();
    TestReport report = trainer.test_report();
    summary.test = report.metrics;
    summary.density = trainer.density();
    write_results(folder, config, registry, trainer, report, summary, {},
                  model_path);
    status.state = RunState::done;
    folder.write_status(status);
    log_test(log, summary, report, trainer.costs(FlopsConvention::plain));
    log << "results in " << folder.dir() << std::endl;
    return summary;
  } catch (const std::exception& e) {
    record_failure(folder, status, e.what());
    throw;
  }
}

}  // namespace cigl
