#pragma once
// checkpoint.pt: everything needed to continue a run (the trainer's state
// at a step boundary, the epoch records so far) and the build that wrote
// it (cigl, LibTorch and plugin versions), written atomically.
#include <map>
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/trainer.hpp"

namespace cigl {

struct BuildInfo {
  std::string cigl_version;
  std::string libtorch_version;
  std::string fingerprint;  ///< compiler and ABI (plugin.hpp)
  /// Plugin name -> version, of the plugins whose components the run uses.
  std::map<std::string, std::string> plugins;
};

/// This build, for `config`'s components.
CIGL_API BuildInfo current_build(const ExperimentConfig& config,
                                 const Registry& registry);

/// What differs from `saved` to `now`, as one phrase ("LibTorch 1.13.1 ->
/// 2.5.1, plugin cigl 1.0.0 -> 1.1.0"), or "" when nothing does.
CIGL_API std::string build_differences(const BuildInfo& saved,
                                       const BuildInfo& now);

struct Checkpoint {
  BuildInfo build;
  std::int64_t epoch = 0;  ///< epochs completed
  std::int64_t step = 0;
  std::vector<EpochRecord> records;  ///< of the epochs completed
};

/// Writes the trainer's state, `records` and `build` to `path` atomically:
/// a kill at any instant leaves the previous checkpoint or the new one.
CIGL_API void save_checkpoint(const std::string& path, const Trainer& trainer,
                              const std::vector<EpochRecord>& records,
                              const BuildInfo& build);

/// The checkpoint's records and build, without touching a trainer.
CIGL_API Checkpoint read_checkpoint(const std::string& path);

/// Restores `trainer` from `path`; returns what else it holds.
CIGL_API Checkpoint load_checkpoint(const std::string& path, Trainer& trainer);

}  // namespace cigl
