// Plugin loading: every failure names the file and what is wrong, nothing
// of a failing plugin is registered, and objects keep their library.
#include <gtest/gtest.h>

#include "cigl/cigl.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

using test::fixture_dir;

std::string load_error(const std::string& file) {
  Registry registry;
  try {
    registry.load_plugin(file);
  } catch (const PluginError& e) {
    EXPECT_TRUE(registry.components().empty()) << "partially registered";
    return e.what();
  }
  ADD_FAILURE() << file << " loaded without error";
  return "";
}

TEST(PluginLoading, GoodPluginRegistersItsComponentsWithVersion) {
  Registry registry;
  const std::string file = fixture_dir("good") + "/libgood_plugin.so";
  registry.load_plugin(file);
  const auto* metric = registry.find(Kind::metric, "fixture_count");
  ASSERT_NE(metric, nullptr);
  EXPECT_EQ(metric->file(), file);
  EXPECT_EQ(metric->plugin->version, "2.3.4");
  ASSERT_NE(registry.find(Kind::method, "fixture_method"), nullptr);
  EXPECT_EQ(registry.plugins().size(), 1u);
}

TEST(PluginLoading, WrongApiVersionIsRefusedBeforeRegistering) {
  const std::string file = fixture_dir("wrong_api") + "/libbad_plugin.so";
  std::string e = load_error(file);
  EXPECT_NE(e.find(file), std::string::npos) << e;
  // The fixture claims CIGL_PLUGIN_API_VERSION + 998.
  EXPECT_NE(e.find("plugin API version 1001"), std::string::npos) << e;
  EXPECT_NE(e.find("supports 3"), std::string::npos) << e;
  EXPECT_NE(e.find("rebuild the plugin against this cigl's SDK"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find("refuses to register"), std::string::npos) << e;
}

TEST(PluginLoading, WrongFingerprintSaysWhatToRebuild) {
  const std::string file =
      fixture_dir("wrong_fingerprint") + "/libbad_plugin.so";
  std::string e = load_error(file);
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("msvc-19 torch=0.1"), std::string::npos) << e;
  // Names what to rebuild against: this build's compiler, ABI and LibTorch.
  EXPECT_NE(e.find(std::string("this cigl is '") + CIGL_BUILD_FINGERPRINT +
                   "'; rebuild"),
            std::string::npos)
      << e;
}

TEST(PluginLoading, MissingEntryPointIsNamed) {
  const std::string file = fixture_dir("no_entry") + "/libno_entry_plugin.so";
  std::string e = load_error(file);
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("no entry point 'cigl_plugin_info'"), std::string::npos)
      << e;
}

TEST(PluginLoading, ExceptionInRegisterIsCaughtAndReported) {
  const std::string file = fixture_dir("throws") + "/libbad_plugin.so";
  std::string e = load_error(file);
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("boom from the fixture's register function"),
            std::string::npos)
      << e;
}

TEST(PluginLoading, UnresolvedSymbolShowsTheLoadersMessage) {
  const std::string file = fixture_dir("unresolved") + "/libbad_plugin.so";
  std::string e = load_error(file);
  EXPECT_NE(e.find("cannot be loaded"), std::string::npos) << e;
  EXPECT_NE(e.find("cigl_fixture_symbol_that_does_not_exist"),
            std::string::npos)
      << e;
}

TEST(PluginLoading, FileThatIsNotALibrary) {
  test::TempDir dir("garbage");
  const std::string file = dir.file("libgarbage.so");
  test::write_file(file, "this is not an ELF file\n");
  std::string e = load_error(file);
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("cannot be loaded"), std::string::npos) << e;
}

TEST(PluginLoading, DuplicateNameInOneFolderIsAnError) {
  Registry registry;
  auto errors = registry.load_directories({fixture_dir("duplicate")});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("metric/fixture_dup"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("libdup_a_plugin.so"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("libdup_b_plugin.so"), std::string::npos)
      << errors[0];
  // The first file's component stays usable.
  EXPECT_NE(registry.find(Kind::metric, "fixture_dup"), nullptr);
}

TEST(PluginLoading, MoreSpecificFolderShadowsTheSameComponent) {
  Registry registry;
  auto errors =
      registry.load_directories({fixture_dir("good"), fixture_dir("shadow")});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(registry.find(Kind::metric, "fixture_count")->file(),
            fixture_dir("good") + "/libgood_plugin.so");
  ASSERT_EQ(registry.shadowed().size(), 2u);
  EXPECT_EQ(registry.shadowed()[0].file,
            fixture_dir("shadow") + "/libgood_plugin.so");
}

TEST(PluginLoading, BrokenFolderCollectsOneErrorPerFileAndLoadsTheRest) {
  test::TempDir dir("broken");
  for (const char* c : {"wrong_api", "throws", "unresolved"}) {
    std::filesystem::copy_file(fixture_dir(c) + "/libbad_plugin.so",
                               dir.file(std::string("lib") + c + ".so"));
  }
  std::filesystem::copy_file(fixture_dir("good") + "/libgood_plugin.so",
                             dir.file("libgood.so"));
  Registry registry;
  auto errors = registry.load_directories({dir.path().string()});
  EXPECT_EQ(errors.size(), 3u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.rfind("plugin " + dir.path().string(), 0), 0u) << e;
  }
  EXPECT_NE(registry.find(Kind::metric, "fixture_count"), nullptr);
}

TEST(PluginLifetime, ObjectKeepsItsLibraryAfterTheRegistryIsGone) {
  int destroyed = 0;
  std::shared_ptr<Method> method;
  {
    Registry registry;
    registry.load_plugin(fixture_dir("good") + "/libgood_plugin.so");
    Params params("method");
    params.set(
        "counter",
        static_cast<std::int64_t>(reinterpret_cast<intptr_t>(&destroyed)),
        "test");
    method = registry.make<Method>("fixture_method", params);
  }
  // The registry is gone; destroying the method runs the plugin's code.
  EXPECT_EQ(destroyed, 0);
  method.reset();
  EXPECT_EQ(destroyed, 1);
}

TEST(Registry, UnknownNameSuggestsTheClosest) {
  Registry registry;
  registry.load_plugin(fixture_dir("good") + "/libgood_plugin.so");
  auto message = registry.unknown_message(Kind::metric, "fixture_cuont");
  EXPECT_NE(message.find("did you mean 'fixture_count'?"), std::string::npos)
      << message;
}

TEST(Registry, FactoryErrorsNameTheComponentAndFile) {
  Registry registry;
  registry.load_plugin(fixture_dir("good") + "/libgood_plugin.so");
  Params empty("metrics");  // "scale" missing: the plugin's lookup throws
  try {
    registry.make<Metric>("fixture_count", empty);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.scale"), std::string::npos)
        << e.what();
  }
}

// Every bundled component builds from its declared defaults and reports
// the name it was registered under in --describe.
TEST(BundledPlugins, EveryComponentBuildsFromItsDefaults) {
  Registry& registry = test::bundled_registry();
  std::size_t count = 0;
  for (const auto* c : registry.components()) {
    Params params = default_params(registry, c->kind, c->spec.name);
    for (const auto& spec : c->spec.params) {
      EXPECT_TRUE(params.has(spec.name)) << c->spec.name << "." << spec.name;
    }
    if (c->kind == Kind::model) {
      EXPECT_NE(registry.make<Model>(c->spec.name, params,
                                     ModelContext{{1, 28, 28}, 10}),
                nullptr);
    } else if (c->kind == Kind::schedule) {
      EXPECT_NE(registry.make<Schedule>(c->spec.name, params,
                                        ScheduleContext{0.1, 100, 10}),
                nullptr);
    } else {
      switch (c->kind) {
        case Kind::method:
          EXPECT_NE(registry.make<Method>(c->spec.name, params), nullptr);
          break;
        case Kind::dataset:
          EXPECT_NE(registry.make<Dataset>(c->spec.name, params), nullptr);
          break;
        case Kind::metric:
          EXPECT_NE(registry.make<Metric>(c->spec.name, params), nullptr);
          break;
        case Kind::distribution:
          EXPECT_NE(registry.make<Distribution>(c->spec.name, params), nullptr);
          break;
        default: break;
      }
    }
    ++count;
  }
  EXPECT_GE(count, 17u);  // every component the first issue asks for
}

}  // namespace
}  // namespace cigl
