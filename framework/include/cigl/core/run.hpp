#pragma once
// One experiment end to end: train, evaluate, and write the run folder
// (config.toml, history.csv, metrics.json, predictions.csv).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/costs.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/trainer.hpp"

namespace cigl {

struct RunOptions {
  std::string run_dir;  ///< "" : <experiment.output_dir>/<experiment.name>
  std::ostream* log = nullptr;  ///< progress lines; nullptr: std::cout
  bool progress_bar = false;    ///< in-epoch bar (cigl-run: when a terminal)
};

struct RunSummary {
  std::string run_dir;
  MetricValues test;
  double density = 1;
  std::int64_t steps = 0;
  double seconds = 0;
};

CIGL_API RunSummary run_experiment(const ExperimentConfig& config,
                                   const Registry& registry,
                                   const RunOptions& options = {});

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
