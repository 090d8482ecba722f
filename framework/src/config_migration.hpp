#pragma once
// Keys that configs of earlier cigl versions used and that moved: the
// unknown-key error names the new place instead of guessing a spelling.
#include <optional>
#include <string>

namespace cigl {

/// Where the key at `key_path` ("method.average_from") lives now, or
/// nothing if it never existed.
std::optional<std::string> moved_key_hint(const std::string& key_path);

}  // namespace cigl
