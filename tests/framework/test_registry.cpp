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
  // The fixture claims the current version + 998.
  EXPECT_NE(e.find("plugin API version " +
                   std::to_string(CIGL_PLUGIN_API_VERSION + 998) + ","),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("supports " + std::to_string(CIGL_PLUGIN_API_VERSION)),
            std::string::npos)
      << e;
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
  EXPECT_EQ(load_error(file),
            "plugin " + file + ": not a shared library (no ELF magic number)");
}

// A library cut short (a copy interrupted, a full disk) used to kill the
// process with SIGBUS inside the dynamic loader: the loader maps what the
// headers claim. It is refused from its headers, never mapped.
TEST(PluginLoading, TruncatedLibraryIsRefusedAtEveryLength) {
  test::TempDir dir("truncated");
  const std::string good = fixture_dir("good") + "/libgood_plugin.so";
  const auto size = std::filesystem::file_size(good);
  for (double fraction :
       {0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99}) {
    const auto length = static_cast<std::uintmax_t>(fraction * size);
    const std::string file =
        dir.file("libcut" + std::to_string(length) + ".so");
    std::filesystem::copy_file(good, file);
    std::filesystem::resize_file(file, length);
    const std::string e = load_error(file);
    EXPECT_EQ(e.rfind("plugin " + file + ": truncated", 0), 0u) << e;
    EXPECT_NE(e.find("past the end of the file (" + std::to_string(length) +
                     " bytes)"),
              std::string::npos)
        << e;
  }
  // One byte short: only the section header table at the very end is cut.
  const std::string file = dir.file("libshort.so");
  std::filesystem::copy_file(good, file);
  std::filesystem::resize_file(file, size - 1);
  EXPECT_EQ(load_error(file).rfind("plugin " + file +
                                       ": truncated or corrupt: the section "
                                       "header table",
                                   0),
            0u);
}

TEST(PluginLoading, TooShortForAnElfHeader) {
  test::TempDir dir("tiny");
  const std::string file = dir.file("libtiny.so");
  test::write_file(file,
                   "\x7f"
                   "ELF");
  EXPECT_EQ(load_error(file), "plugin " + file +
                                  ": not a shared library: 4 bytes, too "
                                  "short for an ELF header");
}

// Calling a data symbol as the entry point used to be SIGSEGV.
TEST(PluginLoading, EntryPointThatIsDataIsRefusedBeforeLoading) {
  const std::string file =
      fixture_dir("data_entry") + "/libdata_entry_plugin.so";
  EXPECT_EQ(load_error(file), "plugin " + file +
                                  ": entry point 'cigl_plugin_info' is a data "
                                  "object, not a function; define it with "
                                  "CIGL_PLUGIN");
}

// A library for another machine, or not a shared library at all, is named
// as such (the dynamic loader's own words were "invalid ELF header").
TEST(PluginLoading, WrongClassMachineOrTypeIsNamed) {
  test::TempDir dir("foreign");
  const std::string good = fixture_dir("good") + "/libgood_plugin.so";
  auto patched = [&](const std::string& name, std::size_t offset,
                     std::vector<unsigned char> bytes) {
    std::string image = test::read_file(good);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      image[offset + i] = static_cast<char>(bytes[i]);
    }
    const std::string file = dir.file(name);
    test::write_file(file, image);
    return load_error(file);
  };
  // e_ident[EI_CLASS] at 4; e_type at 16, e_machine at 18 (little-endian).
  EXPECT_NE(patched("lib32.so", 4, {1})
                .find(": a 32-bit ELF file; this cigl is 64-bit"),
            std::string::npos);
  EXPECT_NE(patched("libarm.so", 18, {183, 0})
                .find(": built for AArch64, this machine is x86-64"),
            std::string::npos);
  EXPECT_NE(patched("libexec.so", 16, {2, 0})
                .find(": not a shared library (ELF type executable); build it "
                      "with cigl_add_plugin"),
            std::string::npos);
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

// LibTorch's allocation failure used to reach the user as a backtrace of
// thirty lines; it is one line naming the component and the setting.
TEST(Registry, LibTorchErrorWhileBuildingIsOneLineWithTheSettings) {
  Registry& registry = test::bundled_registry();
  Params params = default_params(registry, Kind::model, "mlp");
  params.set("hidden", std::vector<std::int64_t>{1000000000}, "exp.toml:3:8");
  try {
    registry.make<Model>("mlp", params, ModelContext{{1, 28, 28}, 10});
    FAIL() << "built";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.rfind("model/mlp (" + std::string(CIGL_TEST_PLUGIN_DIR) +
                             "/libcigl_model_mlp.so): cannot be built from "
                             "model.hidden = [ 1000000000 ] (exp.toml:3:8): "
                             "DefaultCPUAllocator: can't allocate memory: you "
                             "tried to allocate 3136000000000 bytes.",
                         0),
              0u)
        << what;
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

// Missing folders: an error when typed on the command line, a warning
// when they come from a config or the environment (shared between
// machines that may lack one).
class PluginSearch : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("CIGL_PLUGIN_PATH"); }
  void TearDown() override { unsetenv("CIGL_PLUGIN_PATH"); }
};

TEST_F(PluginSearch, MissingCommandLineFolderIsAnError) {
  try {
    plugin_search_path({"/nonexistent/cli"}, {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "--plugin-path folder /nonexistent/cli does not exist");
  }
}

TEST_F(PluginSearch, MissingConfigAndEnvironmentFoldersAreWarnings) {
  setenv("CIGL_PLUGIN_PATH",
         ("/nonexistent/env:" + fixture_dir("good")).c_str(), 1);
  const auto search =
      plugin_search_path({fixture_dir("shadow")}, {"/nonexistent/config"});
  ASSERT_EQ(search.warnings.size(), 2u);
  EXPECT_EQ(
      search.warnings[0],
      "[plugins] paths folder /nonexistent/config does not exist; skipped");
  EXPECT_EQ(search.warnings[1],
            "CIGL_PLUGIN_PATH folder /nonexistent/env does not exist; skipped");
  ASSERT_GE(search.folders.size(), 3u);
  EXPECT_EQ(search.folders[0], fixture_dir("shadow"));
  EXPECT_EQ(search.folders[1], fixture_dir("good"));
}

TEST_F(PluginSearch, FileGivenAsAFolderIsNamed) {
  const std::string file = fixture_dir("good") + "/libgood_plugin.so";
  try {
    plugin_search_path({file}, {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--plugin-path folder " + file + " is not a folder");
  }
}

}  // namespace
}  // namespace cigl
