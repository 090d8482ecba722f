#pragma once
// CSV fields (private to libcigl): report.csv and the matrix export.
#include <string>

namespace cigl {

/// `text` as one CSV field: quoted, quotes doubled, when it holds a comma,
/// a quote or a line break (RFC 4180).
inline std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace cigl
