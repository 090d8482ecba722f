// Matrix cells run as cigl-run processes (matrix_run.cpp): a killed cell
// is run again, finished ones are skipped, and the CSV export.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cigl/core/results_index.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

test::CommandResult cigl_run(const std::string& args) {
  return test::run_cigl(args, "CIGL_PLUGIN_PATH=");
}

TEST(MatrixRun, ResumesAfterAKilledCellRunningOnlyThatCell) {
  test::TempDir dir("matrix-resume");
  const std::string config = dir.file("m.toml");
  // Cell 1 trains longer, so it can be killed while it runs.
  test::write_file(config, R"([experiment]
name = "m"
output_dir = ")" + dir.path().string() +
                               R"("
threads = 1
[data]
train_limit = 1000
test_limit = 200
[model]
hidden = [32]
[[metrics]]
plugin = "accuracy"
[matrix]
"training.epochs" = [1, 40]
)");
  const std::string root = dir.file("m");

  // Cell 1 alone, killed (SIGKILL: no chance to record anything) once the
  // index shows it running.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // It suspends itself at step 20, so it is killed mid-run however
    // fast the machine.
    setenv("CIGL_TEST_KILL_AT", "step:20", 1);
    setenv("CIGL_TEST_KILL_SIGNAL", std::to_string(SIGSTOP).c_str(), 1);
    execl(CIGL_TEST_RUN_BINARY, CIGL_TEST_RUN_BINARY, "--config",
          config.c_str(), "--cell", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  bool running = false;
  for (int i = 0; i < 3000 && !running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!std::filesystem::exists(root + "/results.sqlite")) continue;
    auto row = ResultsIndex(root + "/results.sqlite").get(1);
    running = row && row->status == CellStatus::running && row->pid == pid;
  }
  ASSERT_TRUE(running) << "cell 1 never showed as running";
  ASSERT_TRUE(test::wait_until_suspended(pid));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "cell 1 finished before it was killed";

  // The whole matrix: cell 0 runs, cell 1 (dead) runs again.
  auto first = cigl_run("--config " + config);
  ASSERT_EQ(first.code, 0) << first.output;
  {
    ResultsIndex index(root + "/results.sqlite");
    auto rows = index.all();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].status, CellStatus::done);
    EXPECT_EQ(rows[1].status, CellStatus::done);
    EXPECT_EQ(rows[0].attempts, 1);
    EXPECT_EQ(rows[1].attempts, 2) << "killed once, then run to the end";
  }
  EXPECT_TRUE(std::filesystem::exists(root + "/cells/001-e40/metrics.json"));

  // Again: nothing left to run.
  auto second = cigl_run("--config " + config);
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_NE(second.output.find("skip   000-e1: done already"),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("skip   001-e40: done already"),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("0 to run"), std::string::npos) << second.output;

  // The CSV has one row per cell with its matrix value and metrics.
  auto csv = cigl_run("--config " + config + " --export csv");
  ASSERT_EQ(csv.code, 0) << csv.output;
  const std::string table = test::read_file(root + "/results.csv");
  EXPECT_EQ(table.rfind("index,name,status,training.epochs,accuracy,density,"
                        "steps,train_seconds,seconds,attempts,",
                        0),
            0u)
      << table;
  EXPECT_NE(table.find("\n1,001-e40,done,40,"), std::string::npos) << table;
}

}  // namespace
}  // namespace cigl
