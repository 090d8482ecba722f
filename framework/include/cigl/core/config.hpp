#pragma once
// Experiment configs: TOML files plus `--set` overrides, resolved against
// the registry's declared parameters before anything trains.
#include <memory>
#include <string>
#include <vector>

#include "cigl/core/registry.hpp"
#include "cigl/params.hpp"

namespace cigl {

/// A section that names a plugin, with that plugin's resolved parameters.
struct ComponentChoice {
  std::string plugin;
  Params params;
  std::string label;  ///< metrics: the column name (`name`, or the plugin)
};

struct ExperimentConfig {
  std::string source;  ///< the config file, or "" when built in code
  Params experiment;   ///< name, seed, output_dir, device, threads, ...
  Params training;     ///< epochs, batch_size, eval_every, ...
  Params distributed;  ///< backend, timeout_seconds, bucket_mb, overlap
  Params averaging;    ///< enabled, from, unit, recompute_batchnorm
  ComponentChoice optimizer, data, model, method, schedule;
  std::vector<ComponentChoice> metrics;
  std::vector<std::string> plugin_paths;  ///< resolved to absolute paths
  /// [model] init_from: a model.pt whose weights the model starts from
  /// (absolute), or "".
  std::string model_init_from;
};

struct ConfigDocumentAccess;  // the core's own view of the TOML document

/// Parameters of the sections the core owns (no plugin).
CIGL_API const std::vector<ParamSpec>& experiment_specs();
CIGL_API const std::vector<ParamSpec>& training_specs();
CIGL_API const std::vector<ParamSpec>& distributed_specs();
CIGL_API const std::vector<ParamSpec>& averaging_specs();

/// A parsed config document with overrides applied; not yet checked
/// against plugins (which plugins exist depends on `[plugins] paths`).
class CIGL_API ConfigDocument {
 public:
  /// Parses `file`; throws ConfigError "file:line:col: ..." on bad TOML,
  /// or on text beyond the limits of config_limits.hpp (size, nesting,
  /// key and string length), checked before parsing.
  static ConfigDocument from_file(const std::string& file);
  static ConfigDocument from_string(const std::string& text,
                                    const std::string& source_name);
  ConfigDocument(ConfigDocument&&) noexcept;
  ConfigDocument& operator=(ConfigDocument&&) noexcept;
  ~ConfigDocument();

  /// Applies `section.key=value` (value in TOML syntax; a bare word is
  /// taken as a string). Throws ConfigError on a malformed assignment.
  /// `origin` names where it came from in errors (default "--set ...";
  /// a matrix cell passes the file:line of its `[matrix]` entry).
  void apply_override(const std::string& assignment,
                      const std::string& origin = "");

  /// Whether the document (overrides included) has a top-level `name`.
  bool has_table(const std::string& name) const;

  /// `[plugins] paths`, relative entries taken from the config's folder.
  std::vector<std::string> plugin_paths() const;

  /// Checks every section against the registry: unknown keys, wrong types,
  /// out-of-range values, unknown plugins. Throws one ConfigError listing
  /// every problem, one per line. `[matrix]` and `[slurm]` are left to
  /// cigl/core/matrix.hpp.
  ExperimentConfig resolve(const Registry& registry) const;

 private:
  struct Impl;
  friend struct ConfigDocumentAccess;
  explicit ConfigDocument(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The parameters a component gets when its section sets nothing: every
/// declared default, nested components resolved too.
CIGL_API Params default_params(const Registry& registry, Kind kind,
                               const std::string& name);

/// The resolved config as TOML: every key, defaults included, so the run
/// folder's config.toml reproduces the run on its own.
CIGL_API std::string to_toml(const ExperimentConfig& config);

}  // namespace cigl
