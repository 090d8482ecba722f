// A matrix stopped or killed while its cells run continues, when run
// again, from each cell's own checkpoint, and ends with the numbers of a
// matrix never interrupted.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "cigl/core/results_index.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;

std::string matrix_config(const std::string& output_dir) {
  return R"([experiment]
name = "m"
output_dir = ")" +
         output_dir + R"("
threads = 1
[training]
epochs = 6
batch_size = 100
[data]
train_limit = 2000
test_limit = 300
[model]
hidden = [32]
[method]
plugin = "rigl"
update_interval = 5
[matrix]
"method.density" = [0.1, 0.2]
)";
}

nlohmann::json json_of(const std::string& path) {
  return nlohmann::json::parse(test::read_file(path));
}

// Starts `cigl-run --config <config>` as a child of this process; its
// first cell suspends itself at step 40 (after two epochs' checkpoints).
pid_t start_matrix(const std::string& config) {
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("CIGL_TEST_KILL_AT", "step:40", 1);
    setenv("CIGL_TEST_KILL_SIGNAL", std::to_string(SIGSTOP).c_str(), 1);
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    execl(CIGL_TEST_RUN_BINARY, CIGL_TEST_RUN_BINARY, "--config",
          config.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits until the first cell has suspended itself; returns its pid.
long long wait_for_suspended_cell(const std::string& cell_dir) {
  for (int i = 0; i < 6000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::error_code ec;
    if (!fs::exists(cell_dir + "/status.json", ec)) continue;
    try {
      const long long pid =
          json_of(cell_dir + "/status.json").value("pid", 0LL);
      if (pid > 0 && test::wait_until_suspended(pid)) return pid;
    } catch (const std::exception&) {
      // Being replaced this instant: look again.
    }
  }
  return 0;
}

class MatrixStop : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_file(dir_.file("whole.toml"),
                     matrix_config(dir_.file("whole-out")));
    test::write_file(dir_.file("stopped.toml"),
                     matrix_config(dir_.file("stopped-out")));
    auto whole = test::run_cigl("--config " + dir_.file("whole.toml"));
    ASSERT_EQ(whole.code, 0) << whole.output;
  }
  void expect_same_results() {
    for (const char* cell : {"000-d0.1", "001-d0.2"}) {
      SCOPED_TRACE(cell);
      const auto expected =
          json_of(dir_.file("whole-out/m/cells/") + cell + "/metrics.json");
      const auto got =
          json_of(dir_.file("stopped-out/m/cells/") + cell + "/metrics.json");
      EXPECT_EQ(got["test"], expected["test"]);
      EXPECT_EQ(got["density"], expected["density"]);
    }
  }
  std::string first_cell() const {
    return dir_.file("stopped-out/m/cells/000-d0.1");
  }
  test::TempDir dir_{"matrix-stop"};
};

TEST_F(MatrixStop, SigtermStopsEveryCellWithACheckpointAndARerunContinues) {
  const pid_t matrix = start_matrix(dir_.file("stopped.toml"));
  ASSERT_GT(wait_for_suspended_cell(first_cell()), 0);
  // The matrix passes it on, with a SIGCONT, to the suspended cell.
  kill(matrix, SIGTERM);
  int status = 0;
  waitpid(matrix, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 143);
  EXPECT_EQ(json_of(first_cell() + "/status.json")["state"], "interrupted");
  EXPECT_TRUE(fs::exists(first_cell() + "/checkpoint.pt"));

  auto again = test::run_cigl("--config " + dir_.file("stopped.toml"));
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(test::read_file(first_cell() + "/log.txt").find("resumed from"),
            std::string::npos);
  expect_same_results();
}

TEST_F(MatrixStop, AMatrixKilledOutrightIsSeenDeadAtOnceAndContinues) {
  const pid_t matrix = start_matrix(dir_.file("stopped.toml"));
  const long long cell_pid = wait_for_suspended_cell(first_cell());
  ASSERT_GT(cell_pid, 0);
  // The cell runs in a process of its own: kill it and the matrix, with
  // no chance to record anything.
  kill(matrix, SIGKILL);
  kill(static_cast<pid_t>(cell_pid), SIGKILL);
  int status = 0;
  waitpid(matrix, &status, 0);

  // Right away: the killed cell is not "running elsewhere".
  auto again = test::run_cigl("--config " + dir_.file("stopped.toml"));
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(again.output.find("busy"), std::string::npos) << again.output;
  EXPECT_NE(test::read_file(first_cell() + "/log.txt").find("resumed from"),
            std::string::npos);
  expect_same_results();
}

TEST(ProcessAlive, AZombieIsNotAlive) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  // Not reaped yet: a zombie until waitpid.
  for (int i = 0; i < 500 && process_alive(child); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(process_alive(child));
  EXPECT_EQ(kill(child, 0), 0) << "kill(0) still finds the zombie";
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(process_alive(getpid()));
}

}  // namespace
}  // namespace cigl
