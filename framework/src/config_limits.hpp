#pragma once
// Bounds on a config's text, checked before TOML++ parses it (private to
// libcigl). TOML++ recurses once per level of nesting while it builds the
// tree, so a key of ~60,000 dotted parts overflows the stack inside the
// parser; no real config comes near these limits.
#include <cstddef>
#include <string>

namespace cigl {

struct ConfigLimits {
  static constexpr std::size_t max_bytes = 1 << 20;  ///< whole file: 1 MiB
  static constexpr int max_depth = 32;         ///< nested tables and arrays
  static constexpr std::size_t max_key = 256;  ///< one key part
  static constexpr std::size_t max_string = 1 << 14;  ///< one string: 16 KiB
};

/// The text of config `file`: a regular file of at most max_bytes, read
/// whole; throws ConfigError naming the file and the reason otherwise.
std::string read_config_text(const std::string& file);

/// Throws ConfigError "<source>:<line>:<col>: ..." when `text` exceeds a
/// limit. The scan follows TOML's lexical rules (strings, comments, keys,
/// tables, inline tables, arrays) closely enough that the nesting it
/// counts is never below what TOML++ would build; malformed text is left
/// for TOML++ to report.
void check_config_limits(const std::string& text, const std::string& source);

}  // namespace cigl
