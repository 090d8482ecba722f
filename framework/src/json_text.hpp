#pragma once
// JSON through nlohmann-json (private to libcigl: no public header names
// it, so the installed SDK does not depend on it).
#include <string>

#include <nlohmann/json.hpp>

namespace cigl {

/// A document as cigl writes every JSON file: two-space indents, keys in
/// the order they were set, a final newline; NaN and infinities as null
/// (nlohmann-json's rule), invalid UTF-8 replaced instead of thrown.
/// Numbers are nlohmann-json's round-trip text.
std::string json_text(const nlohmann::ordered_json& document);

/// The same on one line (the results index's columns).
std::string json_line(const nlohmann::ordered_json& document);

}  // namespace cigl
