#pragma once
// The core's view into a ConfigDocument's TOML tree (private to libcigl):
// matrix.cpp reads `[matrix]` and `[slurm]` with their source positions.
#include <string>

#include <toml++/toml.h>

#include "cigl/core/config.hpp"

namespace cigl {

struct ConfigDocumentAccess {
  static const toml::table& root(const ConfigDocument& d);
  static const std::string& source(const ConfigDocument& d);
  static ConfigDocument copy(const ConfigDocument& d);
  /// "file:line:col" of a node of the document (the file alone if unknown).
  static std::string position(const toml::source_region& s,
                              const ConfigDocument& d);
};

}  // namespace cigl
