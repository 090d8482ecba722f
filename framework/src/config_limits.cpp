#include "config_limits.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cigl/data_file.hpp"
#include "cigl/error.hpp"

namespace cigl {

namespace {

std::string too_big(const std::string& source, std::uint64_t bytes) {
  return source + ": " + std::to_string(bytes) +
         " bytes; a config may have at most " +
         std::to_string(ConfigLimits::max_bytes) + " (is this the right file?)";
}

// One pass over the text. Recursion follows the nesting and stops at
// max_depth, so the scan itself cannot run out of stack either.
class LimitScan {
 public:
  LimitScan(const std::string& text, const std::string& source)
      : t_(text), source_(source) {}

  void run() {
    if (t_.size() > ConfigLimits::max_bytes) {
      throw ConfigError(too_big(source_, t_.size()));
    }
    check_non_ascii();
    int table_depth = 0;  // of the last [table] or [[array]] header
    while (i_ < t_.size()) {
      skip_blank(true);
      if (i_ >= t_.size()) break;
      const std::size_t start = i_;
      if (t_[i_] == '[') {
        const bool array = at("[[");
        i_ += array ? 2 : 1;
        table_depth = key(start) + (array ? 1 : 0);
        check_depth(table_depth, start);
      } else {
        const int parts = key(i_);
        skip_blank(false);
        if (i_ < t_.size() && t_[i_] == '=') {
          ++i_;
          value(table_depth + parts, start);
        }
      }
      skip_to_line_end();
      if (i_ == start) ++i_;  // malformed: TOML++ will say so
    }
  }

 private:
  bool at(const char* s) const {
    return t_.compare(i_, std::char_traits<char>::length(s), s) == 0;
  }

  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t k = 0; k < at && k < t_.size(); ++k) {
      if (t_[k] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw ConfigError(source_ + ":" + std::to_string(line) + ":" +
                      std::to_string(column) + ": " + what);
  }

  void check_depth(int depth, std::size_t where) const {
    if (depth > ConfigLimits::max_depth) {
      fail(where, "tables and arrays nested more than " +
                      std::to_string(ConfigLimits::max_depth) +
                      " deep (the most a config may nest)");
    }
  }

  /// Raw non-ASCII characters only in comments. TOML++ 3.3 reaches
  /// undefined behaviour on some (found by fuzzing: a bare key with
  /// U+045E, a string glued to a number, after a line-ending backslash);
  /// strings spell them as \\uXXXX escapes, which it handles.
  void check_non_ascii() const {
    std::size_t k = 0;
    auto raw = [&](std::size_t at, const char* where) {
      if (at < t_.size() && static_cast<unsigned char>(t_[at]) >= 0x80) {
        fail(at, std::string("a raw non-ASCII character ") + where);
      }
    };
    const char* const in_string =
        "in a string; write it as \\uXXXX (TOML++ 3.3 mishandles raw ones)";
    // One character of a string, or a backslash and the one it escapes.
    auto string_step = [&](char quote) {
      raw(k, in_string);
      if (quote == '"' && t_[k] == '\\') {
        raw(k + 1, in_string);
        k += 2;
      } else {
        ++k;
      }
    };
    while (k < t_.size()) {
      const char c = t_[k];
      if (c == '#') {
        while (k < t_.size() && t_[k] != '\n') ++k;
      } else if (t_.compare(k, 3, std::string(3, c)) == 0 &&
                 (c == '"' || c == '\'')) {
        k += 3;
        while (k < t_.size() && t_.compare(k, 3, std::string(3, c)) != 0) {
          string_step(c);
        }
        k += 3;
        // Up to two more quotes are content: the string ends after them.
        for (int extra = 0; extra < 2 && k < t_.size() && t_[k] == c; ++extra) {
          ++k;
        }
      } else if (c == '"' || c == '\'') {
        ++k;
        while (k < t_.size() && t_[k] != c && t_[k] != '\n') string_step(c);
        ++k;
      } else {
        raw(k, "outside a string or comment (TOML keys and values are ASCII)");
        ++k;
      }
    }
  }

  /// Spaces and tabs; newlines and comments too when `lines`.
  void skip_blank(bool lines) {
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
      } else if (lines && c == '\n') {
        ++i_;
      } else if (lines && c == '#') {
        skip_to_line_end();
      } else {
        break;
      }
    }
  }

  void skip_to_line_end() {
    while (i_ < t_.size() && t_[i_] != '\n') {
      if (t_[i_] == '#') {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else if (t_[i_] == '"' || t_[i_] == '\'') {
        string(ConfigLimits::max_string, "string");
      } else {
        ++i_;
      }
    }
  }

  /// A dotted key up to `=` or `]`; returns its number of parts.
  int key(std::size_t start) {
    int parts = 0;
    for (;;) {
      skip_blank(false);
      if (i_ >= t_.size()) break;
      const std::size_t part_start = i_;
      const char c = t_[i_];
      if (c == '"' || c == '\'') {
        string(ConfigLimits::max_key, "key");
      } else {
        while (i_ < t_.size() &&
               (std::isalnum(static_cast<unsigned char>(t_[i_])) ||
                t_[i_] == '_' || t_[i_] == '-')) {
          ++i_;
        }
        if (i_ - part_start > ConfigLimits::max_key) {
          fail(part_start, "a key of " + std::to_string(i_ - part_start) +
                               " characters; at most " +
                               std::to_string(ConfigLimits::max_key));
        }
      }
      if (i_ == part_start) break;  // not a key: TOML++ will say so
      check_depth(++parts, start);  // cheap early stop on huge keys
      skip_blank(false);
      if (i_ < t_.size() && t_[i_] == '.') {
        ++i_;
      } else {
        break;
      }
    }
    return parts;
  }

  /// A string of any of TOML's four kinds, at most `limit` characters.
  void string(std::size_t limit, const char* what) {
    const std::size_t start = i_;
    const char quote = t_[i_];
    const bool multi = quote == '"' ? at("\"\"\"") : at("'''");
    i_ += multi ? 3 : 1;
    const std::size_t content = i_;
    for (;;) {
      if (i_ >= t_.size()) return;  // unterminated: TOML++ will say so
      const char c = t_[i_];
      if (c == '\\' && quote == '"') {
        i_ += 2;
        continue;
      }
      if (!multi && c == '\n') return;  // unterminated
      if (c == quote &&
          (!multi || t_.compare(i_, 3, std::string(3, quote)) == 0)) {
        if (i_ - content > limit) {
          fail(start, std::string("a ") + what + " of " +
                          std::to_string(i_ - content) +
                          " characters; at most " + std::to_string(limit));
        }
        i_ += multi ? 3 : 1;
        // Up to two more quotes belong to a multi-line string's content.
        for (int extra = 0;
             multi && extra < 2 && i_ < t_.size() && t_[i_] == quote; ++extra) {
          ++i_;
        }
        return;
      }
      ++i_;
    }
  }

  /// A value whose container sits `depth` levels down.
  void value(int depth, std::size_t where) {
    check_depth(depth, where);
    skip_blank(false);
    if (i_ >= t_.size()) return;
    const char c = t_[i_];
    if (c == '"' || c == '\'') {
      string(ConfigLimits::max_string, "string");
    } else if (c == '[') {
      ++i_;
      for (;;) {
        skip_blank(true);
        if (i_ >= t_.size()) return;
        if (t_[i_] == ']' || t_[i_] == '}') {
          ++i_;
          return;
        }
        const std::size_t before = i_;
        value(depth + 1, i_);
        skip_blank(true);
        if (i_ < t_.size() && t_[i_] == ',') ++i_;
        if (i_ == before) ++i_;
      }
    } else if (c == '{') {
      ++i_;
      for (;;) {
        skip_blank(true);
        if (i_ >= t_.size()) return;
        if (t_[i_] == '}' || t_[i_] == ']') {
          ++i_;
          return;
        }
        const std::size_t before = i_;
        const int parts = key(i_);
        check_depth(depth + parts, before);
        skip_blank(false);
        if (i_ < t_.size() && t_[i_] == '=') {
          ++i_;
          value(depth + parts, before);
        }
        skip_blank(true);
        if (i_ < t_.size() && t_[i_] == ',') ++i_;
        if (i_ == before) ++i_;
      }
    } else {
      // A number, bool or date: up to what ends a value.
      while (i_ < t_.size() && t_[i_] != ',' && t_[i_] != ']' &&
             t_[i_] != '}' && t_[i_] != '\n' && t_[i_] != '#') {
        ++i_;
      }
    }
  }

  const std::string& t_;
  const std::string& source_;
  std::size_t i_ = 0;
};

}  // namespace

std::string read_config_text(const std::string& file) {
  const std::string problem = regular_file_problem(file, "config");
  if (problem == file + ": not found") {
    throw ConfigError(file + ": config file not found");
  }
  if (!problem.empty()) throw ConfigError(problem);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (!ec && size > ConfigLimits::max_bytes) {
    throw ConfigError(too_big(file, size));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(file + ": read failed");
  return text.str();
}

void check_config_limits(const std::string& text, const std::string& source) {
  LimitScan(text, source).run();
}

}  // namespace cigl
