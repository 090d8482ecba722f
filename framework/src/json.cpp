#include "json.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cigl/error.hpp"

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

namespace cigl::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Value document() {
    Value v = value();
    space();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error("malformed JSON at offset " + std::to_string(i_) + ": " + what);
  }
  void space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
  }
  bool take(const char* word) {
    const std::size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }
  Value value() {
    space();
    if (i_ >= s_.size()) fail("unexpected end");
    Value v;
    const char c = s_[i_];
    if (c == '{') {
      v.type = Value::Type::object;
      ++i_;
      space();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
      for (;;) {
        space();
        std::string key = string();
        space();
        if (i_ >= s_.size() || s_[i_++] != ':') fail("expected ':'");
        v.object.emplace_back(std::move(key), value());
        space();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = Value::Type::array;
      ++i_;
      space();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
      for (;;) {
        v.array.push_back(value());
        space();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = Value::Type::string;
      v.string = string();
      return v;
    }
    if (take("null")) return v;
    if (take("true")) {
      v.type = Value::Type::boolean;
      v.boolean = true;
      return v;
    }
    if (take("false")) {
      v.type = Value::Type::boolean;
      return v;
    }
    const char* begin = s_.c_str() + i_;
    char* end = nullptr;
    v.number = std::strtod(begin, &end);
    if (end == begin) fail("unexpected character");
    v.type = Value::Type::number;
    i_ += static_cast<std::size_t>(end - begin);
    return v;
  }
  std::string string() {
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\' && i_ < s_.size()) {
        char e = s_[i_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'u':
            out += '?';
            i_ += 4;
            break;  // not produced by cigl
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

}  // namespace

Value parse(const std::string& text) { return Parser(text).document(); }

}  // namespace cigl::json
