#include "json.hpp"

#include <cstdio>

namespace cigl::json {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  // Prefer the shortest text that reads back to the same double.
  for (int precision = 6; precision < 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buf;
}

void Writer::newline() {
  out_ << "\n" << std::string(static_cast<std::size_t>(depth_) * 2, ' ');
}

void Writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) out_ << ",";
  if (depth_ > 0) newline();
  first_ = false;
}

Writer& Writer::begin_object() {
  separate();
  out_ << "{";
  ++depth_;
  first_ = true;
  return *this;
}

Writer& Writer::end_object() {
  --depth_;
  if (!first_) newline();
  out_ << "}";
  first_ = false;
  return *this;
}

Writer& Writer::begin_array() {
  separate();
  out_ << "[";
  ++depth_;
  first_ = true;
  return *this;
}

Writer& Writer::end_array() {
  --depth_;
  if (!first_) newline();
  out_ << "]";
  first_ = false;
  return *this;
}

Writer& Writer::key(const std::string& name) {
  separate();
  out_ << quote(name) << ": ";
  after_key_ = true;
  return *this;
}

Writer& Writer::value(const std::string& s) {
  separate();
  out_ << quote(s);
  return *this;
}

Writer& Writer::value(double v) {
  separate();
  out_ << number(v);
  return *this;
}

Writer& Writer::value(std::int64_t v) {
  separate();
  out_ << v;
  return *this;
}

Writer& Writer::value(bool v) {
  separate();
  out_ << (v ? "true" : "false");
  return *this;
}

}  // namespace cigl::json
