#include "cigl/params.hpp"

#include "cigl/core/number_text.hpp"
#include "cigl/error.hpp"
#include "toml_value.hpp"

namespace cigl {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::method: return "method";
    case Kind::model: return "model";
    case Kind::dataset: return "dataset";
    case Kind::metric: return "metric";
    case Kind::distribution: return "distribution";
    case Kind::schedule: return "schedule";
    case Kind::optimizer: return "optimizer";
  }
  return "?";
}

const std::vector<Kind>& all_kinds() {
  static const std::vector<Kind> kinds = {
      Kind::method,       Kind::model,    Kind::dataset,  Kind::metric,
      Kind::distribution, Kind::schedule, Kind::optimizer};
  return kinds;
}

std::optional<Kind> kind_from_name(const std::string& name) {
  for (Kind kind : all_kinds()) {
    if (name == kind_name(kind)) return kind;
  }
  return std::nullopt;
}

const char* type_name(ParamType type) {
  switch (type) {
    case ParamType::boolean: return "bool";
    case ParamType::integer: return "integer";
    case ParamType::number: return "float";
    case ParamType::string: return "string";
    case ParamType::integer_list: return "integer list";
    case ParamType::number_list: return "float list";
    case ParamType::string_list: return "string list";
    case ParamType::number_map: return "table of floats";
    case ParamType::component: return "component";
  }
  return "?";
}

std::string to_string(const Value& value) {
  // A component parameter is written as its plugin's name, the short form
  // a config accepts (the resolved config spells out its parameters too).
  if (const auto* ref = std::get_if<ComponentRef>(&value)) {
    return toml_text(toml::value<std::string>(ref->name));
  }
  toml::table table;
  insert_toml(table, "value", value);
  return toml_text(*table.get("value"));
}

namespace {
ParamSpec make(std::string name, ParamType type, Value def, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(def);
  spec.doc = std::move(doc);
  return spec;
}
}  // namespace

ParamSpec ParamSpec::boolean(std::string name, bool def, std::string doc) {
  return make(std::move(name), ParamType::boolean, def, std::move(doc));
}
ParamSpec ParamSpec::integer(std::string name, std::int64_t def,
                             std::string doc) {
  return make(std::move(name), ParamType::integer, def, std::move(doc));
}
ParamSpec ParamSpec::number(std::string name, double def, std::string doc) {
  return make(std::move(name), ParamType::number, def, std::move(doc));
}
ParamSpec ParamSpec::string(std::string name, std::string def,
                            std::string doc) {
  return make(std::move(name), ParamType::string, std::move(def),
              std::move(doc));
}
ParamSpec ParamSpec::integers(std::string name, std::vector<std::int64_t> def,
                              std::string doc) {
  return make(std::move(name), ParamType::integer_list, std::move(def),
              std::move(doc));
}
ParamSpec ParamSpec::numbers(std::string name, std::vector<double> def,
                             std::string doc) {
  return make(std::move(name), ParamType::number_list, std::move(def),
              std::move(doc));
}
ParamSpec ParamSpec::strings(std::string name, std::vector<std::string> def,
                             std::string doc) {
  return make(std::move(name), ParamType::string_list, std::move(def),
              std::move(doc));
}
ParamSpec ParamSpec::number_map(std::string name, std::string doc) {
  return make(std::move(name), ParamType::number_map, NumberMap{},
              std::move(doc));
}
ParamSpec ParamSpec::component(std::string name, Kind kind, std::string def,
                               std::string doc) {
  ParamSpec spec =
      make(std::move(name), ParamType::component,
           ComponentRef{kind, std::move(def), nullptr}, std::move(doc));
  spec.component_kind = kind;
  return spec;
}

ParamSpec& ParamSpec::min(double value) {
  minimum = value;
  exclusive_minimum = false;
  return *this;
}
ParamSpec& ParamSpec::greater_than(double value) {
  minimum = value;
  exclusive_minimum = true;
  return *this;
}
ParamSpec& ParamSpec::max(double value) {
  maximum = value;
  return *this;
}
ParamSpec& ParamSpec::one_of(std::vector<std::string> values) {
  choices = std::move(values);
  return *this;
}

std::string ParamSpec::constraint_text() const {
  auto num = [](double v) { return shortest(v); };
  if (!choices.empty()) {
    std::string out = "one of: ";
    for (std::size_t i = 0; i < choices.size(); ++i) {
      out += (i ? ", " : "") + choices[i];
    }
    return out;
  }
  if (type == ParamType::component) {
    return std::string("a ") + kind_name(component_kind) + " plugin";
  }
  if (minimum && maximum) {
    return (exclusive_minimum ? "(" : "[") + num(*minimum) + ", " +
           num(*maximum) + "]";
  }
  if (minimum) return (exclusive_minimum ? "> " : ">= ") + num(*minimum);
  if (maximum) return "<= " + num(*maximum);
  return "";
}

Params::Params(std::string path) : path_(std::move(path)) {}

void Params::set(const std::string& key, Value value, std::string origin) {
  entries_[key] = Entry{std::move(value), std::move(origin)};
}

bool Params::has(const std::string& key) const {
  return entries_.count(key) != 0;
}

const Value& Params::value(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    throw ConfigError(key_path(key) +
                      ": parameter was not declared by the component");
  }
  return it->second.value;
}

const std::string& Params::origin(const std::string& key) const {
  static const std::string none = "default";
  auto it = entries_.find(key);
  return it == entries_.end() ? none : it->second.origin;
}

std::string Params::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void Params::fail(const std::string& key, const std::string& message) const {
  const std::string& where = origin(key);
  std::string prefix = where == "default" ? "" : where + ": ";
  throw ConfigError(prefix + key_path(key) + ": " + message);
}

template <class T>
const T& Params::get(const std::string& key, ParamType expected) const {
  const Value& v = value(key);
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw ConfigError(key_path(key) + ": read as " + type_name(expected) +
                    " but holds another type");
}

bool Params::boolean(const std::string& key) const {
  return get<bool>(key, ParamType::boolean);
}
std::int64_t Params::integer(const std::string& key) const {
  return get<std::int64_t>(key, ParamType::integer);
}
double Params::number(const std::string& key) const {
  return get<double>(key, ParamType::number);
}
const std::string& Params::string(const std::string& key) const {
  return get<std::string>(key, ParamType::string);
}
const std::vector<std::int64_t>& Params::integers(
    const std::string& key) const {
  return get<std::vector<std::int64_t>>(key, ParamType::integer_list);
}
const std::vector<double>& Params::numbers(const std::string& key) const {
  return get<std::vector<double>>(key, ParamType::number_list);
}
const std::vector<std::string>& Params::strings(const std::string& key) const {
  return get<std::vector<std::string>>(key, ParamType::string_list);
}
const NumberMap& Params::number_map(const std::string& key) const {
  return get<NumberMap>(key, ParamType::number_map);
}
const ComponentRef& Params::component(const std::string& key) const {
  return get<ComponentRef>(key, ParamType::component);
}

}  // namespace cigl
