#pragma once
// Ranks of a data-parallel run for a test: the test binary starts itself
// once per rank, running only the current test, with the rank in its
// environment; each child connects over loopback (as cigl-run's ranks
// do) and runs the rank's part of the test. (Ranks cannot be threads of
// one process: LibTorch 1.13's TCPStore does not serve a client of its
// own process reliably.)
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "cigl/core/distributed.hpp"
#include "cigl/core/launch.hpp"

extern char** environ;

namespace cigl::test {

/// Runs `body(the rank's communicator)` in `world` processes, one per
/// rank, and returns each rank's error ("" where it succeeded; else what
/// it printed: the exception, or the failed expectations of `body`).
inline std::vector<std::string> on_ranks(
    int world, const std::function<void(Communicator&)>& body,
    double timeout_seconds = 20) {
  if (const char* me = std::getenv("CIGL_TEST_RANK")) {
    // A child: be that rank, then leave without running anything else.
    int code = 0;
    try {
      RankEnvironment env;
      env.rank = std::atoi(me);
      env.world_size = std::atoi(std::getenv("CIGL_TEST_WORLD"));
      env.local_rank = env.rank;
      env.master_port = std::atoi(std::getenv("CIGL_TEST_PORT"));
      env.launcher = "test";
      CommunicatorOptions options;
      options.backend = "gloo";
      options.timeout_seconds = timeout_seconds;
      auto ranks = connect_ranks(env, options);
      body(*ranks);
      if (::testing::Test::HasFailure()) code = 3;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      code = 1;
    }
    std::fflush(nullptr);
    std::_Exit(code);
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter =
      "--gtest_filter=" + std::string(info->test_suite_name()) + "." +
      info->name();
  const std::string self =
      std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string port = std::to_string(free_local_port());
  const auto dir = std::filesystem::temp_directory_path();
  std::vector<pid_t> pids(world);
  std::vector<std::string> logs(world);
  for (int r = 0; r < world; ++r) {
    logs[r] = (dir / ("cigl-test-rank-" + std::to_string(::getpid()) + "-" +
                      std::to_string(r) + ".log"))
                  .string();
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.push_back("CIGL_TEST_RANK=" + std::to_string(r));
    env.push_back("CIGL_TEST_WORLD=" + std::to_string(world));
    env.push_back("CIGL_TEST_PORT=" + port);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {self, filter};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logs[r].c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (posix_spawn(&pids[r], self.c_str(), &actions, nullptr, argv.data(),
                    envp.data()) != 0) {
      pids[r] = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    int status = 0;
    if (pids[r] < 0 || ::waitpid(pids[r], &status, 0) < 0) {
      errors[r] = "could not start rank " + std::to_string(r);
      continue;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::ifstream in(logs[r]);
      errors[r] = std::string(std::istreambuf_iterator<char>(in), {});
      if (errors[r].empty()) errors[r] = "(rank failed without a word)";
    }
    std::filesystem::remove(logs[r]);
  }
  return errors;
}

}  // namespace cigl::test
