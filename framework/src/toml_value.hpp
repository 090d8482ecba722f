#pragma once
// TOML text through toml++'s own formatter (private to libcigl): resolved
// configs, parameter values, matrix values. toml++ is built with
// TOML_FLOAT_CHARCONV (toml_impl.cpp), so floats come out shortest and
// round-trip exactly.
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "cigl/core/matrix.hpp"
#include "cigl/params.hpp"

namespace cigl {

/// One node as the text after `key = `: a table comes out inline.
std::string toml_text(const toml::node& node);

/// A whole document, tables as [sections] and arrays of tables as
/// [[blocks]]; strings in double quotes with escapes.
std::string toml_document(const toml::table& table);

/// Inserts `value` into `table` under `key`; a component becomes an inline
/// table { plugin = "name", <its parameters> }.
void insert_toml(toml::table& table, const std::string& key,
                 const Value& value);

/// A scalar, array or table node as a MatrixValue (TOML text and all).
MatrixValue matrix_value(const toml::node& node);

/// Flattens nested tables into key paths: `{ method = { plugin = "x" } }`
/// and `{ "method.plugin" = "x" }` both give "method.plugin". A table is a
/// leaf once its path names a section and a key (two parts or more)
/// unless `tables_nest` (then only non-tables are leaves).
struct FlatEntry {
  std::string path;
  const toml::node* node;
  toml::source_region key;  ///< where the (last part of the) key is
};
std::vector<FlatEntry> flatten(const toml::table& table, bool tables_nest);

}  // namespace cigl
