// Which code a config runs with (provenance.cpp): every used component,
// nested ones included, with its plugin and version.
#include <gtest/gtest.h>

#include "cigl/core/provenance.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

TEST(Provenance, ListsEveryComponentOnceWithItsPluginVersion) {
  auto config = ConfigDocument::from_string(R"(
[method]
plugin = "rigl"
distribution = "erk"
[[metrics]]
plugin = "ece"
[[metrics]]
plugin = "ece"
name = "ece10"
[[metrics]]
plugin = "mce"
)",
                                            "p.toml")
                    .resolve(test::bundled_registry());
  auto used = used_components(config, test::bundled_registry());
  std::vector<std::string> names;
  for (const auto& u : used) {
    names.push_back(std::string(kind_name(u.kind)) + "/" + u.name + " " +
                    u.plugin + " " + u.plugin_version);
  }
  // Config order; the method's nested distribution and drop-fraction
  // schedule after it; ece once although configured twice.
  EXPECT_EQ(names, (std::vector<std::string>{
                       "dataset/fashion_mnist mnist 1.0.0",
                       "model/mlp mlp 1.0.0",
                       "method/rigl rigl 1.0.0",
                       "distribution/erk erdos_renyi 1.1.0",
                       "schedule/cosine standard_schedules 1.0.0",
                       "schedule/constant standard_schedules 1.0.0",
                       "metric/ece standard_metrics 1.1.0",
                       "metric/mce calibration_metrics 1.1.0",
                   }));
  const std::string text = code_versions(config, test::bundled_registry());
  EXPECT_EQ(text.rfind(std::string("cigl ") + cigl_version() + "\n", 0), 0u);
  EXPECT_NE(text.find("method/rigl rigl 1.0.0\n"), std::string::npos);
}

}  // namespace
}  // namespace cigl
