#pragma once
// The content of a run folder's files, as text: what run_experiment writes
// (each file whole, so it can be written to a temporary file and renamed).
// Numbers in files are shortest round-trip text (cigl/core/number_text.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/costs.hpp"
#include "cigl/core/trainer.hpp"

namespace cigl {

/// history.csv's first line: epoch, step, lr, train_loss, val_<label> per
/// metric with a value (Trainer::metric_labels()), density, seconds.
CIGL_API std::string history_csv_header(
    const std::vector<std::string>& metric_labels);

/// One history.csv line; the validation cells are empty in an epoch that
/// did not validate.
CIGL_API std::string history_csv_row(
    const EpochRecord& record, const std::vector<std::string>& metric_labels);

/// predictions.csv: per test example the label, then the probability of
/// each class.
CIGL_API std::string predictions_csv(const torch::Tensor& probabilities,
                                     const torch::Tensor& labels);

/// What metrics.json reports beside the test metrics.
struct RunFacts {
  double density = 1;                  ///< non-zero share of maskable weights
  std::optional<double> mask_density;  ///< the method's masks, if it has any
  std::int64_t steps = 0;
  double seconds = 0;
  CostReport plain, micronet;   ///< of the final model, both conventions
  std::string evaluated_model;  ///< model.pt evaluated (cigl-run --evaluate)
};

/// metrics.json: the run's identity (experiment, method, model, dataset,
/// seed), "test" (every metric with a value), the temperature and the
/// metrics after it, density, steps, seconds, "costs", "series" (e.g. the
/// reliability bins) and "versions" (cigl and each plugin used).
CIGL_API std::string metrics_json(const ExperimentConfig& config,
                                  const Registry& registry,
                                  const TestReport& report,
                                  const RunFacts& facts);

/// "lenet5 on fashion_mnist, rigl, 90% sparse": model, dataset, method and
/// the measured sparsity of the maskable weights ("dense" at density 1).
CIGL_API std::string run_title(const ExperimentConfig& config, double density);

/// The bin count of the run's ECE: the first `ece` metric's n_bins, else
/// the `reliability` metric's, else 15.
CIGL_API std::int64_t reliability_bin_count(const ExperimentConfig& config);

/// reliability.svg: the test predictions in reliability_bin_count() bins
/// with the confidence histogram; "" without test predictions.
CIGL_API std::string reliability_svg(const ExperimentConfig& config,
                                     const TestReport& report, double density);

/// history.svg: training and validation loss, validation accuracy and
/// ECE, learning rate and density per epoch (the panels whose data the
/// config produces).
CIGL_API std::string history_svg(const ExperimentConfig& config,
                                 const std::vector<EpochRecord>& records,
                                 double density);

}  // namespace cigl
