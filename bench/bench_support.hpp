#pragma once
// Shared by the benchmarks: the bundled plugins, and medians of repeats.
#include <algorithm>
#include <vector>

#include "cigl/core/registry.hpp"
#include "cigl/error.hpp"

namespace cigl::bench {

/// The plugins cigl-run would find from here; throws on a bad one.
inline void load_plugins(Registry& registry) {
  auto errors = registry.load_directories(plugin_search_path({}));
  if (!errors.empty()) throw Error(errors.front());
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace cigl::bench
