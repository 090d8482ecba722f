// cigl-run as a user meets it: exit codes, one-line errors, no crashes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>

#include "test_support.hpp"

namespace cigl {
namespace {

test::CommandResult run(const std::string& args, const std::string& env = "") {
  return test::run_cigl(args, env);
}

class Cli : public ::testing::Test {
 protected:
  test::TempDir dir{"cli"};
  std::string config(const std::string& text) {
    const std::string path = dir.file("exp.toml");
    test::write_file(path, text);
    return path;
  }
};

TEST_F(Cli, MisspeltKeyIsExitTwoAndOneLineWithFileLineAndKey) {
  const std::string path = config("[model]\nplugin = \"mlp\"\nhiden = [10]\n");
  auto r = run("--config " + path);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.output, "error: " + path +
                          ":3:1: model.hiden: unknown key (did you mean "
                          "'hidden'?)\n");
}

TEST_F(Cli, BrokenPluginFolderGivesClearErrorsNotACrash) {
  for (const char* c : {"wrong_api", "throws", "unresolved"}) {
    std::filesystem::copy_file(test::fixture_dir(c) + "/libbad_plugin.so",
                               dir.file(std::string("lib") + c + ".so"));
  }
  test::write_file(dir.file("libjunk.so"), "junk");
  auto r =
      run("--config " + config(""), "CIGL_PLUGIN_PATH=" + dir.path().string());
  EXPECT_EQ(r.code, 2) << r.output;
  for (const char* f :
       {"libwrong_api.so", "libthrows.so", "libunresolved.so", "libjunk.so"}) {
    EXPECT_NE(r.output.find(dir.file(f)), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("4 plugin(s) failed to load; nothing was run"),
            std::string::npos)
      << r.output;
}

TEST_F(Cli, UsageErrorsAreExitTwo) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("--no-such-option").code, 2);
  EXPECT_EQ(run("--config /nonexistent.toml").code, 2);
  EXPECT_EQ(run("--config " + config("") + " --set training.epochs=0").code, 2);
  EXPECT_EQ(run("--describe method/nope").code, 2);
}

TEST_F(Cli, RuntimeFailureIsExitOneWithTheReason) {
  auto r = run("--config " +
               config("[data]\nroot = \"" + dir.file("missing") + "\"\n") +
               " --output " + dir.file("run"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("error: fashion_mnist: data folder " +
                          dir.file("missing") + " does not exist"),
            std::string::npos)
      << r.output;
}

TEST_F(Cli, DivergingRunStopsWithAnErrorInsteadOfNaNMetrics) {
  auto r = run("--config " +
               config("[data]\ntrain_limit = 500\ntest_limit = 100\n"
                      "[training]\nepochs = 2\n[optimizer]\nlr = 1e12\n") +
               " --output " + dir.file("run"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("error: training diverged in epoch 1"),
            std::string::npos)
      << r.output;
}

TEST_F(Cli, DescribeListsParametersWithTypesDefaultsAndRanges) {
  auto r = run("--describe method/static");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("density (float, default 0.1, (0, 1])"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("distribution (component, default \"erk\""),
            std::string::npos)
      << r.output;
}

TEST_F(Cli, ListPluginsShowsEveryKindWithFiles) {
  auto r = run("--list-plugins");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"fashion_mnist", "lenet5", "static", "ece", "erk",
                        "step_decay", "libcigl_method_static.so"}) {
    EXPECT_NE(r.output.find(s), std::string::npos) << s;
  }
}

TEST_F(Cli, InspectCountsTheSparseModel) {
  const std::string path = config(
      "[model]\nplugin = \"lenet5\"\n[method]\nplugin = \"static\"\n"
      "density = 0.1\n");
  auto r = run("--config " + path + " --inspect --format json");
  EXPECT_EQ(r.code, 0) << r.output;
  // LeNet-5 on 28x28: 150 + 2400 + 48000 + 10080 + 840 maskable weights.
  EXPECT_NE(r.output.find("\"maskable_parameters\": 61470"), std::string::npos)
      << r.output;
  // ERK per layer (RigL's arithmetic): 121 + 227 + 3687 + 1447 + 667.
  EXPECT_NE(r.output.find("\"maskable_nonzeros\": 6149"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\"parameters\": 61706"), std::string::npos);
  r = run("--config " + path + " --inspect");
  EXPECT_NE(r.output.find("conv1.weight"), std::string::npos) << r.output;
}

TEST_F(Cli, VersionNamesThePluginApi) {
  auto r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("plugin API 3"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cigl
