#include "toml_value.hpp"

#include <sstream>
#include <type_traits>

namespace cigl {

namespace {

// Basic strings with escapes (never literal or multi-line ones), so a
// value reads the same wherever it is pasted; non-ASCII as \uXXXX, which
// the config reader requires (config_limits.cpp: TOML++ 3.3 mishandles
// raw non-ASCII).
constexpr auto kFlags = toml::format_flags::none;

// Inline tables print their nested tables inline too.
void make_inline(toml::table& table) {
  table.is_inline(true);
  for (auto&& [key, node] : table) {
    if (auto* t = node.as_table()) make_inline(*t);
    if (auto* a = node.as_array()) {
      for (auto& item : *a) {
        if (auto* t = item.as_table()) make_inline(*t);
      }
    }
  }
}

}  // namespace

std::string toml_text(const toml::node& node) {
  std::ostringstream out;
  if (const auto* table = node.as_table()) {
    toml::table copy = *table;
    make_inline(copy);
    out << toml::toml_formatter(copy, kFlags);
  } else if (const auto* array = node.as_array()) {
    toml::array copy = *array;
    for (auto& item : copy) {
      if (auto* t = item.as_table()) make_inline(*t);
    }
    out << toml::toml_formatter(copy, kFlags);
  } else {
    out << toml::toml_formatter(node, kFlags);
  }
  return out.str();
}

std::string toml_document(const toml::table& table) {
  std::ostringstream out;
  out << toml::toml_formatter(table, kFlags) << "\n";
  return out.str();
}

void insert_toml(toml::table& table, const std::string& key,
                 const Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ComponentRef>) {
          toml::table component{{"plugin", v.name}};
          if (v.params) {
            for (const auto& [k, entry] : v.params->entries()) {
              insert_toml(component, k, entry.value);
            }
          }
          component.is_inline(true);
          table.insert_or_assign(key, std::move(component));
        } else if constexpr (std::is_same_v<T, NumberMap>) {
          toml::table map;
          for (const auto& [k, x] : v) map.insert_or_assign(k, x);
          map.is_inline(true);
          table.insert_or_assign(key, std::move(map));
        } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>> ||
                             std::is_same_v<T, std::vector<double>> ||
                             std::is_same_v<T, std::vector<std::string>>) {
          toml::array array;
          for (const auto& x : v) array.push_back(x);
          table.insert_or_assign(key, std::move(array));
        } else {
          table.insert_or_assign(key, v);
        }
      },
      value);
}

MatrixValue matrix_value(const toml::node& node) {
  MatrixValue v;
  v.toml = toml_text(node);
  v.text = v.toml;
  if (auto s = node.value_exact<std::string>()) {
    v.is_string = true;
    v.text = *s;
  } else if (node.is_number()) {
    v.is_number = true;
    v.number = *node.value<double>();
  }
  return v;
}

namespace {
void flatten_into(const toml::table& table, const std::string& prefix,
                  bool tables_nest, std::vector<FlatEntry>& out) {
  for (auto&& [key, node] : table) {
    std::string path = prefix.empty() ? std::string(key.str())
                                      : prefix + "." + std::string(key.str());
    const bool has_key = path.find('.') != std::string::npos;
    if (node.is_table() && (tables_nest || !has_key)) {
      flatten_into(*node.as_table(), path, tables_nest, out);
    } else {
      out.push_back({path, &node, key.source()});
    }
  }
}

bool before(const toml::source_region& a, const toml::source_region& b) {
  if (a.begin.line != b.begin.line) return a.begin.line < b.begin.line;
  return a.begin.column < b.begin.column;
}
}  // namespace

std::vector<FlatEntry> flatten(const toml::table& table, bool tables_nest) {
  std::vector<FlatEntry> out;
  flatten_into(table, "", tables_nest, out);
  // toml++ keeps keys sorted; the file's order is the one users wrote.
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return before(a.node->source(), b.node->source());
  });
  return out;
}

}  // namespace cigl
