#pragma once
// TOML nodes as matrix values (private to libcigl; matrix.cpp, check.cpp).
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "cigl/core/matrix.hpp"

namespace cigl {

/// Shortest text of a double that reads back the same, always with a '.'
/// or an exponent so TOML reads it as a float.
std::string float_text(double value);

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
