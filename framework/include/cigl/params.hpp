#pragma once
// Parameter declarations and the typed, read-only view a factory receives.
// One declaration drives validation, `cigl-run --describe` and the docs.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

// A new kind is one enumerator here, its name in kind_name() (params.cpp;
// the switch makes a missing name a compiler warning) and its entry in
// all_kinds(); the registry, --list-plugins and --describe follow from
// those. Kinds are part of the plugin ABI: append, never reorder.
enum class Kind {
  method,
  model,
  dataset,
  metric,
  distribution,
  schedule,
  optimizer,
};
CIGL_API const char* kind_name(Kind kind);
CIGL_API std::optional<Kind> kind_from_name(const std::string& name);
/// Every kind, in the order --list-plugins shows them.
CIGL_API const std::vector<Kind>& all_kinds();

enum class ParamType {
  boolean,
  integer,
  number,
  string,
  integer_list,
  number_list,
  string_list,
  number_map,  ///< a table of name = float, e.g. per-layer densities
  component,   ///< another plugin: a name or a table with `plugin = name`
};
CIGL_API const char* type_name(ParamType type);

class Params;
/// A nested component chosen by a parameter, e.g. a method's distribution.
struct ComponentRef {
  Kind kind;
  std::string name;
  std::shared_ptr<const Params> params;
};

using NumberMap = std::map<std::string, double>;
using Value = std::variant<bool, std::int64_t, double, std::string,
                           std::vector<std::int64_t>, std::vector<double>,
                           std::vector<std::string>, NumberMap, ComponentRef>;

/// Renders a value the way it is written in TOML.
CIGL_API std::string to_string(const Value& value);

/// One declared parameter. Build with the static helpers and chain the
/// modifiers: `ParamSpec::number("lr", 0.1, "learning rate").min(0)`.
struct CIGL_API ParamSpec {
  std::string name;
  ParamType type = ParamType::number;
  Value default_value;
  std::string doc;
  std::optional<double> minimum, maximum;
  bool exclusive_minimum = false;
  std::vector<std::string> choices;    ///< allowed strings; empty: any
  Kind component_kind = Kind::method;  ///< for ParamType::component

  static ParamSpec boolean(std::string name, bool def, std::string doc);
  static ParamSpec integer(std::string name, std::int64_t def, std::string doc);
  static ParamSpec number(std::string name, double def, std::string doc);
  static ParamSpec string(std::string name, std::string def, std::string doc);
  static ParamSpec integers(std::string name, std::vector<std::int64_t> def,
                            std::string doc);
  static ParamSpec numbers(std::string name, std::vector<double> def,
                           std::string doc);
  static ParamSpec strings(std::string name, std::vector<std::string> def,
                           std::string doc);
  static ParamSpec number_map(std::string name, std::string doc);
  /// A nested plugin of `kind`, by default the one named `def`.
  static ParamSpec component(std::string name, Kind kind, std::string def,
                             std::string doc);

  ParamSpec& min(double value);
  ParamSpec& greater_than(double value);
  ParamSpec& max(double value);
  ParamSpec& one_of(std::vector<std::string> values);
  /// "[0, 1]", "> 0", "one of: a, b" or "" — shown by --describe.
  std::string constraint_text() const;
};

/// Resolved parameters of one component: every declared key present (the
/// config's value or the default), already checked against its spec.
class CIGL_API Params {
 public:
  struct Entry {
    Value value;
    std::string origin;  ///< "file:line:col", "--set ...", or "default"
  };

  Params() = default;
  /// `path` is the key path of the owning table, e.g. "method".
  explicit Params(std::string path);

  void set(const std::string& key, Value value, std::string origin);

  bool has(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  const std::string& string(const std::string& key) const;
  const std::vector<std::int64_t>& integers(const std::string& key) const;
  const std::vector<double>& numbers(const std::string& key) const;
  const std::vector<std::string>& strings(const std::string& key) const;
  const NumberMap& number_map(const std::string& key) const;
  const ComponentRef& component(const std::string& key) const;

  const Value& value(const std::string& key) const;
  const std::string& origin(const std::string& key) const;
  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }

  /// Throws ConfigError "<origin>: <path.key>: <message>" so a plugin's own
  /// checks point at the config line like the core's do.
  [[noreturn]] void fail(const std::string& key,
                         const std::string& message) const;

 private:
  template <class T>
  const T& get(const std::string& key, ParamType expected) const;
  std::string path_;
  std::map<std::string, Entry> entries_;
};

}  // namespace cigl
