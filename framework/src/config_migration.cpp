#include "config_migration.hpp"

namespace cigl {

std::optional<std::string> moved_key_hint(const std::string& key_path) {
  // CigL's weight averaging became the [averaging] section, usable with
  // any method; `cigl` alone no longer averages.
  if (key_path == "method.average_from") {
    return "weight averaging is a section of its own now: write "
           "[averaging] from = ... (inclusive: the first averaged epoch)";
  }
  if (key_path == "method.average_unit") {
    return "weight averaging is a section of its own now: write "
           "[averaging] unit = ...";
  }
  return std::nullopt;
}

}  // namespace cigl
