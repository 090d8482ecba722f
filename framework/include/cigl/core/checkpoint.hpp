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
  int world_size = 1;                ///< ranks of the run that wrote it
  std::vector<EpochRecord> records;  ///< of the epochs completed
};

/// The checkpoint of the trainer's state, `records` and `build`, as the
/// bytes of checkpoint.pt. With several ranks every rank calls it (each
/// adds its own generators) and gets the same bytes.
CIGL_API std::string checkpoint_bytes(const Trainer& trainer,
                                      const std::vector<EpochRecord>& records,
                                      const BuildInfo& build);

/// Writes checkpoint_bytes() to `path` atomically: a kill at any instant
/// leaves the previous checkpoint or the new one.
CIGL_API void save_checkpoint(const std::string& path, const Trainer& trainer,
                              const std::vector<EpochRecord>& records,
                              const BuildInfo& build);

/// The checkpoint's records and build, without touching a trainer.
CIGL_API Checkpoint read_checkpoint(const std::string& path);

/// Restores `trainer` from `path`; returns what else it holds.
CIGL_API Checkpoint load_checkpoint(const std::string& path, Trainer& trainer);
/// The same from the file's bytes (read on rank 0 and passed to every
/// rank); `source` names the file in errors.
CIGL_API Checkpoint load_checkpoint_bytes(const std::string& bytes,
                                          const std::string& source,
                                          Trainer& trainer);

}  // namespace cigl
