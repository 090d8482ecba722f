#pragma once
// Matrix runs: a config's `[matrix]` table (key path -> list of values)
// expands into the cross product of its values; every combination is a
// cell, run as its own experiment in <root>/cells/<cell name>/.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cigl/core/config.hpp"

namespace cigl {

/// One value of a matrix key, kept as TOML text (what `--set` takes) and
/// as a number or string for matching.
struct CIGL_API MatrixValue {
  std::string toml;  ///< TOML text: 0.1, "rigl", [300, 100]
  std::string text;  ///< for names and tables: strings unquoted
  bool is_number = false;
  bool is_string = false;
  double number = 0;
  /// Numbers compare by value (1 == 1.0), everything else by its text.
  bool operator==(const MatrixValue& other) const;
  bool operator!=(const MatrixValue& other) const { return !(*this == other); }
};

/// Key path and value pairs, e.g. {"method.density", 0.1}.
using MatrixValues = std::vector<std::pair<std::string, MatrixValue>>;

struct CIGL_API MatrixCell {
  std::size_t index = 0;
  std::string name;     ///< "003-rigl-d0.1-s0": index, then the values
  MatrixValues values;  ///< in the order of the [matrix] table
  std::vector<std::string> origins;  ///< per value: "file:line:col"
  /// The value of `key`, or nullptr when this cell does not set it.
  const MatrixValue* find(const std::string& key) const;
  /// "method.plugin=rigl method.density=0.1" (`--set` syntax).
  std::string overrides_text() const;
};

struct CIGL_API Matrix {
  std::string source;             ///< the config file
  std::vector<std::string> keys;  ///< every key a cell sets, in table order
  std::vector<MatrixCell> cells;
  std::size_t excluded = 0;  ///< combinations removed by `exclude`
};

/// Whether the document has a `[matrix]` table.
CIGL_API bool has_matrix(const ConfigDocument& document);

/// Expands `[matrix]`: the cross product of the value lists (the first key
/// outermost, the last varying fastest), minus every combination that an
/// `exclude` entry matches, plus the `include` entries as extra cells.
/// Throws ConfigError naming file:line on a malformed table.
CIGL_API Matrix expand_matrix(const ConfigDocument& document);

/// A cell's name: zero-padded index, then per value either the string
/// itself or the key's initials and the value ("d0.1" for method.density,
/// "s0" for experiment.seed, "wd0.0005" for optimizer.weight_decay), joined
/// by '-', characters other than [A-Za-z0-9._] replaced by '_'.
CIGL_API std::string cell_name(std::size_t index, std::size_t cell_count,
                               const MatrixValues& values);

/// The base document with the cell's values applied through
/// ConfigDocument::apply_override (errors name the `[matrix]` entry) and
/// experiment.name set to the cell name.
CIGL_API ConfigDocument cell_document(const ConfigDocument& base,
                                      const MatrixCell& cell);

/// Resolves every cell; throws one ConfigError listing each distinct
/// problem once, naming the cells it concerns when not all of them.
CIGL_API std::vector<ExperimentConfig> resolve_cells(const ConfigDocument& base,
                                                     const Matrix& matrix,
                                                     const Registry& registry);

/// A stable fingerprint of a resolved config (its TOML text without the
/// source line and the cell name) and of `code`, the versions of the code
/// that runs it (code_versions() in cigl/core/provenance.hpp): a finished
/// cell counts only for the config and the code it ran with.
CIGL_API std::string config_fingerprint(const ExperimentConfig& config,
                                        const std::string& code = "");

/// `[slurm]`: sbatch options for --emit-slurm.
struct CIGL_API SlurmOptions {
  std::string partition, time, mem, account;
  std::int64_t gpus = 0, cpus_per_task = 0, max_parallel = 0;
  /// Each cell as a data-parallel run of nodes x tasks_per_node ranks
  /// (`srun cigl-run ...`, one rank per task); 1 x 1: one process.
  std::int64_t nodes = 1, tasks_per_node = 1;
  std::int64_t gpus_per_node = 0;  ///< `--gpus-per-node`; 0: not asked
  /// Seconds before the time limit at which Slurm sends SIGUSR1, so the
  /// cell writes a checkpoint and the task is requeued; 0: no warning.
  std::int64_t signal_seconds = 300;
  std::vector<std::string> setup;  ///< shell lines before the command
  std::vector<std::string> extra;  ///< further `#SBATCH` options
};
/// Reads `[slurm]`; throws ConfigError (file:line) on unknown keys or
/// wrong types.
CIGL_API SlurmOptions slurm_options(const ConfigDocument& document);

struct SlurmJob {
  std::string job_name;
  std::size_t cells = 0;
  std::string matrix_root;           ///< absolute
  std::string workdir;               ///< absolute; output_dir is relative to it
  std::vector<std::string> command;  ///< cigl-run and its arguments
};
/// An sbatch array script: task i runs `<command> --cell i`.
CIGL_API std::string slurm_script(const SlurmJob& job,
                                  const SlurmOptions& options);

/// Single-quotes `word` for a POSIX shell when it needs it.
CIGL_API std::string shell_quote(const std::string& word);

}  // namespace cigl
