#pragma once
// The core training loop: builds dataset, model, optimizer, schedule,
// method and metrics from a resolved config and runs the method's hooks
// around every step (see cigl/method.hpp for their order).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/costs.hpp"
#include "cigl/core/distributed.hpp"
#include "cigl/dataset.hpp"
#include "cigl/method.hpp"
#include "cigl/model.hpp"

namespace cigl {

class KernelRouting;

/// Metric label and value, in the config's order; metrics that only
/// report series (Metric::scalar() false) have none.
using MetricValues = std::vector<std::pair<std::string, double>>;

/// The final evaluation on the test split.
struct TestReport {
  MetricValues metrics;  ///< at temperature 1
  /// Series metrics report beside their value, by metric label.
  std::map<std::string, std::map<std::string, std::vector<double>>> series;
  std::optional<double> temperature;  ///< fitted, with temperature_scaling
  MetricValues scaled;                ///< metrics at that temperature
  torch::Tensor probabilities;        ///< {n, classes}, temperature 1
  torch::Tensor labels;               ///< {n}
};

struct EpochRecord {
  std::int64_t epoch = 0;   ///< 1-based, as printed
  std::int64_t step = 0;    ///< optimizer steps so far
  double lr = 0;            ///< learning rate of the epoch's last step
  double train_loss = 0;    ///< mean over the epoch's batches
  MetricValues validation;  ///< empty when not evaluated this epoch
  double density = 1;
  double seconds = 0;  ///< wall time since training started
};

/// What fit() calls while it trains; every member may be empty.
struct FitHooks {
  /// After each epoch (and its validation).
  std::function<void(const EpochRecord&)> on_epoch;
  /// After each step: (steps done in this epoch, steps per epoch). The
  /// trainer's state is consistent here: save_state() may be called.
  std::function<void(std::int64_t, std::int64_t)> on_step;
  /// Checked after each step; true stops training at that step boundary.
  std::function<bool()> stop;
};
/// LibTorch CPU threads for experiment.threads = `requested`, at most the
/// machine's cores (`warning` then says so). 0 takes the process's
/// default: set_default_cpu_threads(), else OMP_NUM_THREADS (the rank
/// launcher's share), else all cores.
CIGL_API int cpu_threads(std::int64_t requested, std::string* warning);
/// What experiment.threads = 0 means in this process from now on (0: back
/// to OMP_NUM_THREADS or all cores): a matrix's `--threads` for its cells.
CIGL_API void set_default_cpu_threads(int threads);

/// Throws ConfigError when `config` cannot run as `world_size` ranks (the
/// global batch must split evenly over them).
CIGL_API void check_world_size(const ExperimentConfig& config, int world_size);

class CIGL_API Trainer {
 public:
  enum class Mode {
    train,       ///< load the data and build everything
    build_only,  ///< model, optimizer and method only, no data (--inspect)
  };
  /// Builds every component; throws ConfigError or DataError before any
  /// step runs. With `ranks` (a data-parallel run, cigl/core/distributed.hpp)
  /// this trainer is one of them: every rank constructs its trainer, and
  /// every call below is made on all ranks alike (they communicate).
  Trainer(const ExperimentConfig& config, const Registry& registry,
          Mode mode = Mode::train,
          std::shared_ptr<Communicator> ranks = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains the remaining epochs. `on_epoch` sees each finished epoch;
  /// `on_step` gets (step within epoch, steps per epoch) for progress.
  void fit(const std::function<void(const EpochRecord&)>& on_epoch = {},
           const std::function<void(std::int64_t, std::int64_t)>& on_step = {});
  /// The same with a stop check: returns false when `hooks.stop` ended
  /// training early (the state then stands at a step boundary, possibly
  /// inside an epoch, and a later fit() continues from there).
  bool fit(const FitHooks& hooks);
  /// Trains one epoch (the next one, or the rest of an interrupted one);
  /// `on_step` as in fit().
  EpochRecord train_epoch(
      const std::function<void(std::int64_t, std::int64_t)>& on_step = {});
  /// Evaluates the given final model instead of finalizing the trained
  /// one: test() and test_report() then score it as it is.
  void use_final_model(const std::map<std::string, torch::Tensor>& state);
  /// Lets the method finalize the model (e.g. CigL's averaging), then
  /// evaluates the test split. `probabilities` receives {n, classes}.
  MetricValues test(torch::Tensor* probabilities = nullptr);
  /// The same, with everything the run folder reports.
  TestReport test_report();

  /// Problems worth a line in the log that do not stop the run (threads
  /// clamped to the cores, a training loss that grows by orders of
  /// magnitude), oldest first; the list only grows.
  const std::vector<std::string>& warnings() const;

  std::shared_ptr<Model> model() const;
  const Method& method() const;
  /// Labels of the metrics that have a value, in the config's order: the
  /// entries of every MetricValues this trainer returns.
  std::vector<std::string> metric_labels() const;
  /// Which layers run sparse kernels (training.sparse_kernels).
  const KernelRouting& kernels() const;
  /// Inference, training and size costs of the model as it stands, with
  /// the method's training FLOPs over this run's steps.
  CostReport costs(FlopsConvention convention) const;
  /// Non-zero fraction of the maskable weights, as the model stands.
  double density() const;
  std::int64_t step() const;
  std::int64_t epoch() const;   ///< epochs completed
  std::int64_t epochs() const;  ///< epochs configured
  /// Training time so far, across resumes (wall seconds).
  double train_seconds() const;
  std::int64_t total_steps() const;
  std::string device_name() const;
  /// The ranks of a data-parallel run; Collectives::single_process() else.
  Collectives& ranks() const;
  const DataSplit& train_split() const;
  const DataSplit& validation_split() const;
  const DataSplit& test_split() const;

  /// Model, optimizer, method, counters, generators and the position
  /// inside the current epoch, at any step boundary; loading it into a
  /// Trainer of the same config resumes the run bit-for-bit on CPU (with
  /// the same thread count). With several ranks every rank calls it (it
  /// gathers each rank's generators) and gets the same archive.
  void save_state(const std::string& file) const;
  void load_state(const std::string& file);
  void save_state(torch::serialize::OutputArchive& archive) const;
  /// Throws Error with one line naming `source` when the state does not
  /// fit this trainer.
  void load_state(torch::serialize::InputArchive& archive,
                  const std::string& source);

 private:
  void load_state_unchecked(torch::serialize::InputArchive& archive);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cigl
