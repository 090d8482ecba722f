#pragma once
// Which code a run used: cigl's version and, for every component of a
// resolved config, the plugin (name and version) that provides it. Written
// to metrics.json and part of a matrix cell's fingerprint, so a cell re-runs
// when cigl or a plugin it uses changes version.
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"

namespace cigl {

/// The version libcigl was built as (the CMake project version).
CIGL_API const char* cigl_version();

struct UsedComponent {
  Kind kind;
  std::string name;            ///< the component, e.g. "rigl"
  std::string plugin;          ///< the library's plugin name; "" built-in
  std::string plugin_version;  ///< e.g. "1.0.0"; "" built-in
};

/// Every component `config` uses, nested ones included (a method's
/// distribution and drop-fraction schedule), each once, in config order.
CIGL_API std::vector<UsedComponent> used_components(
    const ExperimentConfig& config, const Registry& registry);

/// One line per part: "cigl 0.1.0", then "method/rigl dynamic_methods
/// 1.0.0" for each used component.
CIGL_API std::string code_versions(const ExperimentConfig& config,
                                   const Registry& registry);

}  // namespace cigl
