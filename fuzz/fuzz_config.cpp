// Fuzz target: TOML bytes -> parsed, overridden, resolved against the
// bundled plugins, matrix expanded, written back -> a config or a
// ConfigError. A crash, a hang, a leak or another exception is a finding.
// An input whose first line is "#set key=value" also applies that --set.
#include <toml++/toml.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/core/matrix.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/error.hpp"

namespace {

cigl::Registry* registry = nullptr;

/// Nesting of a parsed tree, walked without recursion.
int depth_of(const toml::node& root) {
  int deepest = 0;
  std::vector<std::pair<const toml::node*, int>> stack{{&root, 0}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, depth);
    if (const auto* t = node->as_table()) {
      for (auto&& [key, child] : *t) stack.emplace_back(&child, depth + 1);
    } else if (const auto* a = node->as_array()) {
      for (auto&& child : *a) stack.emplace_back(&child, depth + 1);
    }
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  registry = new cigl::Registry();  // lives to exit, as cigl-run's does
  if (!registry->load_directories({CIGL_FUZZ_PLUGIN_DIR}).empty()) {
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string assignment;
  if (text.rfind("#set ", 0) == 0) {
    assignment = text.substr(5, text.find('\n') - 5);
  }
  try {
    auto document = cigl::ConfigDocument::from_string(text, "fuzz.toml");
    // Whatever the limit scan lets through, TOML++ must be able to build
    // (a nesting the scan under-counts would overflow the stack here).
    if (depth_of(toml::parse(text)) > 33) std::abort();  // 32 and a value
    if (!assignment.empty()) document.apply_override(assignment);
    if (cigl::has_matrix(document)) {
      (void)cigl::expand_matrix(document);
      return 0;
    }
    const auto config = document.resolve(*registry);
    (void)cigl::to_toml(config);
  } catch (const cigl::ConfigError&) {
  }
  return 0;
}
