#pragma once
// Running a matrix: every cell a child process (`cigl-run --cell N`), up to
// `jobs` at a time, each recording itself in <root>/results.sqlite; and the
// views of that index (list, CSV, check results, Slurm script).
#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

#include "cigl/core/check.hpp"
#include "cigl/core/matrix.hpp"
#include "cigl/core/results_index.hpp"
#include "cigl/core/run.hpp"

namespace cigl {

/// A matrix with every cell resolved: what each entry point starts from.
struct CIGL_API MatrixSetup {
  std::string config_path;  ///< absolute
  std::string root;         ///< <experiment.output_dir>/<experiment.name>
  Matrix matrix;
  std::vector<ExperimentConfig> configs;         ///< per cell
  std::vector<CellIdentity> identities;          ///< per cell, for the index
  std::string index_path() const;                ///< <root>/results.sqlite
  std::string cell_dir(std::size_t cell) const;  ///< <root>/cells/<name>
};

/// Expands and resolves the matrix of `document` (read from
/// `config_path`); `root` "" takes <experiment.output_dir>/<experiment.name>
/// of the base config. Throws ConfigError on any bad cell.
CIGL_API MatrixSetup prepare_matrix(const ConfigDocument& document,
                                    const std::string& config_path,
                                    const Registry& registry,
                                    const std::string& root = "");

struct MatrixRunOptions {
  std::string executable;  ///< cigl-run, started once per cell
  /// Arguments every child gets after `--config <file>` (--set,
  /// --plugin-path, --output), so it rebuilds the same matrix.
  std::vector<std::string> child_args;
  int jobs = 1;
  int threads = 0;  ///< LibTorch threads per child; 0: leave the default
  std::ostream* log = nullptr;  ///< progress lines; nullptr: std::cout
};

/// Runs every cell that is not done (skipping those, and those running in
/// a live process elsewhere), `jobs` at a time, each in its own process
/// with its output in <cell dir>/log.txt. Returns the number of cells not
/// done at the end (failed, or still running elsewhere).
CIGL_API std::size_t run_matrix(const MatrixSetup& setup,
                                const MatrixRunOptions& options);

/// Runs cell `cell` in this process, recording it in the index; a cell
/// already done for this config is skipped. Returns false when skipped.
/// Rethrows the run's error after recording it as failed. With `ranks`
/// (the cell as several tasks), rank 0 claims and records the cell and
/// the other ranks train beside it.
CIGL_API bool run_cell(const MatrixSetup& setup, std::size_t cell,
                       const Registry& registry, int threads,
                       std::ostream* log = nullptr,
                       std::shared_ptr<Communicator> ranks = nullptr);

/// Per cell: its values, and its status and metrics from the index
/// ("missing" when the index has no row; "stale" when the row ran another
/// config).
CIGL_API std::vector<CellResult> cell_results(const MatrixSetup& setup,
                                              const ResultsIndex* index);

/// `--list-cells`: index, name, status (when there is an index), overrides.
CIGL_API std::string cells_table(const MatrixSetup& setup,
                                 const ResultsIndex* index);

/// One row per cell: index, name, status, one column per matrix key, every
/// metric, then seconds, attempts, times, host, run folder and error.
CIGL_API std::string results_csv(const MatrixSetup& setup,
                                 const ResultsIndex& index);

}  // namespace cigl
