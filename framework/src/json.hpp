#pragma once
// A minimal JSON writer for the run folder and --format json: objects of
// numbers, strings, arrays; enough for metrics.json and the inspect table.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace cigl::json {

std::string quote(const std::string& s);

/// Shortest round-trip text of a double; non-finite values become null.
std::string number(double value);

class Writer {
 public:
  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(const std::string& name);
  Writer& value(const std::string& s);
  Writer& value(const char* s) { return value(std::string(s)); }
  Writer& value(double v);
  Writer& value(std::int64_t v);
  Writer& value(bool v);
  std::string str() const { return out_.str() + "\n"; }

 private:
  void separate();
  void newline();
  std::ostringstream out_;
  int depth_ = 0;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace cigl::json

namespace cigl::json {

/// A parsed JSON value: enough to read back what cigl writes.
struct Value {
  enum class Type {
    null,
    boolean,
    number,
    string,
    array,
    object
  } type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  ///< in file order
  const Value* find(const std::string& key) const;
};

/// Parses `text`; throws cigl::Error with the offset on malformed input.
Value parse(const std::string& text);

}  // namespace cigl::json
