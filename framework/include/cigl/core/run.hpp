#pragma once
// One experiment end to end: train, evaluate, and write the run folder
// (config.toml, status.json, history.csv, checkpoint.pt while it runs;
// then metrics.json, model.pt, the pictures, predictions.csv). The folder
// is locked for the run (cigl/core/run_folder.hpp) and every file is
// written atomically.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/costs.hpp"
#include "cigl/core/distributed.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/error.hpp"

namespace cigl {

/// What run_experiment does with a folder that already holds a run.
enum class ExistingRun {
  /// Start only in a new or empty folder, or over a failed attempt at the
  /// same config that left no checkpoint; refuse anything else with a
  /// ConfigError that says what to do (cigl-run's default).
  refuse,
  overwrite,  ///< remove the old run's files, then start (--overwrite)
  resume,     ///< continue from checkpoint.pt (--resume DIR)
  /// Continue this config's run from its checkpoint, return a finished one
  /// as it is, or start; a run of another config is refused.
  resume_or_start,
  /// The same, but a run of another config is replaced (matrix cells,
  /// whose index decides what runs).
  continue_or_restart,
};

struct RunOptions {
  std::string run_dir;  ///< "" : <experiment.output_dir>/<experiment.name>
  std::ostream* log = nullptr;  ///< progress lines; nullptr: std::cout
  bool progress_bar = false;    ///< in-epoch bar (cigl-run: when a terminal)
  ExistingRun existing = ExistingRun::refuse;
  bool force = false;  ///< resume a checkpoint written by another build
  /// Non-zero asks to stop at the next step boundary (the signal's number);
  /// empty: cigl/core/signals.hpp's stop_signal().
  std::function<int()> stop_signal;
  /// A data-parallel run: every rank calls run_experiment with the same
  /// config; rank 0 owns and writes the run folder, the others only
  /// train, and all of them stop at the same step. nullptr: one process.
  std::shared_ptr<Communicator> ranks;
};

struct RunSummary {
  std::string run_dir;
  MetricValues test;
  double density = 1;
  std::int64_t steps = 0;
  double seconds = 0;
  bool already_finished = false;  ///< found done; nothing ran
};

/// Thrown by run_experiment when a stop was asked for (a signal): the
/// folder is marked interrupted and holds a checkpoint unless checkpoints
/// are off. cigl-run exits with 128 + signal().
class CIGL_API Interrupted : public Error {
 public:
  Interrupted(int signal, bool checkpoint, const std::string& what);
  ~Interrupted() override;
  int signal() const { return signal_; }
  bool checkpoint() const { return checkpoint_; }

 private:
  int signal_;
  bool checkpoint_;
};

/// Thrown on the ranks other than 0 when rank 0 refused or failed to
/// start the run; rank 0 reports why, these exit with the same code.
class CIGL_API FollowingRankStopped : public Error {
 public:
  FollowingRankStopped(int exit_code, const std::string& what);
  ~FollowingRankStopped() override;
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Trains `config` into its run folder and evaluates it. Throws
/// ConfigError before anything runs when the folder is busy or holds
/// something `options.existing` does not allow, Interrupted on a stop,
/// Error on failure (the folder then says failed).
CIGL_API RunSummary run_experiment(const ExperimentConfig& config,
                                   const Registry& registry,
                                   const RunOptions& options = {});

/// Evaluates the model saved in `model_path` (a run's model.pt) on the
/// test split of `config` (its data may differ from the training run's),
/// writing metrics.json, reliability.svg and predictions.csv into
/// `options.run_dir`, a new folder.
CIGL_API RunSummary evaluate_run(const std::string& model_path,
                                 const ExperimentConfig& config,
                                 const Registry& registry,
                                 const RunOptions& options);

struct LayerRow {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t parameters = 0;
  std::int64_t nonzeros = 0;
  bool maskable = false;
};

struct CIGL_API InspectReport {
  std::string model, method;
  std::vector<LayerRow> rows;  ///< every parameter tensor, in model order
  std::int64_t parameters = 0, nonzeros = 0;
  std::int64_t maskable = 0, maskable_nonzeros = 0;
  double density() const;  ///< of the maskable weights
  CostReport costs;        ///< FLOPs and size (cigl/core/costs.hpp)
  /// training.sparse_kernels and each masked layer's choice.
  KernelRouting::Setting kernels = KernelRouting::Setting::off;
  std::vector<KernelChoice> kernel_choices;
  std::string kernels_text;  ///< as the run log prints it
};

/// Builds the model and method (no data, no training) and counts them.
CIGL_API InspectReport
inspect(const ExperimentConfig& config, const Registry& registry,
        FlopsConvention convention = FlopsConvention::plain);
CIGL_API std::string inspect_text(const InspectReport& report);
CIGL_API std::string inspect_json(const InspectReport& report);

}  // namespace cigl
