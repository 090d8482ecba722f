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
#include "cigl/dataset.hpp"
#include "cigl/method.hpp"
#include "cigl/model.hpp"

namespace cigl {

class KernelRouting;

/// Metric label and value, in the config's order.
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

class CIGL_API Trainer {
 public:
  enum class Mode {
    train,       ///< load the data and build everything
    build_only,  ///< model, optimizer and method only, no data (--inspect)
  };
  /// Builds every component; throws ConfigError or DataError before any
  /// step runs.
  Trainer(const ExperimentConfig& config, const Registry& registry,
          Mode mode = Mode::train);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains the remaining epochs. `on_epoch` sees each finished epoch;
  /// `on_step` gets (step within epoch, steps per epoch) for progress.
  void fit(const std::function<void(const EpochRecord&)>& on_epoch = {},
           const std::function<void(std::int64_t, std::int64_t)>& on_step = {});
  /// Trains one epoch (the next one); `on_step` as in fit().
  EpochRecord train_epoch(
      const std::function<void(std::int64_t, std::int64_t)>& on_step = {});
  /// Lets the method finalize the model (e.g. CigL's averaging), then
  /// evaluates the test split. `probabilities` receives {n, classes}.
  MetricValues test(torch::Tensor* probabilities = nullptr);
  /// The same, with everything the run folder reports.
  TestReport test_report();

  std::shared_ptr<Model> model() const;
  const Method& method() const;
  /// Which layers run sparse kernels (training.sparse_kernels).
  const KernelRouting& kernels() const;
  /// Inference, training and size costs of the model as it stands, with
  /// the method's training FLOPs over this run's steps.
  CostReport costs(FlopsConvention convention) const;
  /// Non-zero fraction of the maskable weights, as the model stands.
  double density() const;
  std::int64_t step() const;
  std::int64_t epoch() const;
  std::int64_t total_steps() const;
  std::string device_name() const;
  const DataSplit& train_split() const;
  const DataSplit& validation_split() const;
  const DataSplit& test_split() const;

  /// Model, optimizer, method, counters and generators at an epoch
  /// boundary; loading it into a Trainer of the same config resumes the
  /// run bit-for-bit on CPU.
  void save_state(const std::string& file) const;
  void load_state(const std::string& file);

 private:
  void load_state_unchecked(const std::string& file);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cigl
