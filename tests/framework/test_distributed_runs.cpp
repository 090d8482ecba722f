// Data-parallel runs through cigl-run, as a user starts them: two ranks
// on loopback train like one process on the same global batch (the same
// masks after every topology update, weights equal up to summation order,
// the same accuracy), write one run folder, stop together on a signal and
// resume, and a rank that dies or hangs ends the whole job with an error.
// torchrun and Slurm are simulated by their environment variables.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cigl/core/launch.hpp"
#include "cigl/core/model_file.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;
using test::run_cigl;

// 1800 training examples in global batches of 100: 18 steps per epoch,
// topology updates every 5 steps; one CPU thread per rank.
std::string config_text(const std::string& method, int epochs) {
  std::string text = R"(
[experiment]
name = "dp"
threads = 1
[training]
epochs = )" + std::to_string(epochs) +
                     R"(
batch_size = 100
[data]
plugin = "fashion_mnist"
train_limit = 2000
test_limit = 500
[model]
plugin = "mlp"
hidden = [32]
[optimizer]
lr = 0.05
[schedule]
plugin = "cosine"
[distributed]
timeout_seconds = 20
[method]
plugin = ")" + method +
                     "\"\n";
  if (method != "dense") text += "density = 0.2\n";
  if (method == "rigl" || method == "cigl") text += "update_interval = 5\n";
  return text;
}

nlohmann::json json_of(const std::string& file) {
  return nlohmann::json::parse(test::read_file(file));
}

/// "step layer checksum" lines of one rank's mask trace, in order.
std::vector<std::string> trace_of(const std::string& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line.substr(line.find(' ') + 1));  // without the rank
  }
  return lines;
}

class DataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::make_unique<test::TempDir>(std::string("dp-") + info->name());
  }
  std::string config(const std::string& method, int epochs = 3) {
    const std::string file =
        dir_->file(method + std::to_string(epochs) + ".toml");
    test::write_file(file, config_text(method, epochs));
    return file;
  }
  std::string dir(const std::string& name) const { return dir_->file(name); }
  std::unique_ptr<test::TempDir> dir_;
};

// The acceptance test of the issue, for RigL and CigL: two ranks against
// one process on the same global batch and seed.
class TwoRanksAsOneProcess : public DataParallel,
                             public ::testing::WithParamInterface<std::string> {
};

TEST_P(TwoRanksAsOneProcess, SameMasksWeightsAndAccuracy) {
  const std::string method = GetParam();
  const std::string cfg = config(method);
  const std::string one = dir("one"), two = dir("two");
  auto r1 = run_cigl("--config " + cfg + " --output " + one,
                     "CIGL_TEST_MASK_TRACE=" + dir("trace-one"));
  ASSERT_EQ(r1.code, 0) << r1.output;
  auto r2 = run_cigl("--config " + cfg + " --output " + two + " --nproc 2",
                     "CIGL_TEST_MASK_TRACE=" + dir("trace-two"));
  ASSERT_EQ(r2.code, 0) << r2.output;
  EXPECT_NE(r2.output.find("2 ranks (gloo)"), std::string::npos) << r2.output;
  // One progress report, from rank 0.
  EXPECT_EQ(r2.output.find("epoch 1/3"), r2.output.rfind("epoch 1/3"));

  // Masks after setup and after every topology update (steps 5, 10, ...,
  // until 75% of 54 steps): the same on both ranks and as in one process.
  const auto single = trace_of(dir("trace-one") + ".rank0");
  const auto rank0 = trace_of(dir("trace-two") + ".rank0");
  const auto rank1 = trace_of(dir("trace-two") + ".rank1");
  const ModelFile a = read_model_file(one + "/model.pt");
  const ModelFile b = read_model_file(two + "/model.pt");
  EXPECT_EQ(single.size(), 9 * a.masks.size());  // setup and 8 updates
  EXPECT_EQ(rank0, rank1);
  EXPECT_EQ(rank0, single);

  // One run folder, written once; the same weights up to the order of
  // summation, the same accuracy within noise.
  EXPECT_EQ(json_of(two + "/status.json")["state"], "done");
  EXPECT_FALSE(fs::exists(two + "/checkpoint.pt"));
  const auto m1 = json_of(one + "/metrics.json");
  const auto m2 = json_of(two + "/metrics.json");
  EXPECT_NEAR(m2["test"]["accuracy"].get<double>(),
              m1["test"]["accuracy"].get<double>(), 0.01);
  EXPECT_NEAR(m2["test"]["nll"].get<double>(), m1["test"]["nll"].get<double>(),
              0.01);
  EXPECT_EQ(m2["mask_density"], m1["mask_density"]);
  ASSERT_EQ(a.state.size(), b.state.size());
  for (const auto& [name, tensor] : a.state) {
    EXPECT_TRUE(torch::allclose(b.state.at(name), tensor, 1e-3, 1e-4)) << name;
  }
  for (const auto& [name, mask] : a.masks) {
    EXPECT_TRUE(torch::equal(b.masks.at(name), mask)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, TwoRanksAsOneProcess,
                         ::testing::Values("rigl", "cigl"));

// After a few steps the weights differ from one process's only by the
// order of summation.
TEST_F(DataParallel, AfterAFewStepsTheWeightsAreOneProcesssUpToRounding) {
  const std::string cfg = config("rigl", 1);
  for (const char* nproc : {"1", "2"}) {
    auto r = run_cigl("--config " + cfg + " --output " + dir(nproc) +
                      " --nproc " + nproc + " --set data.train_limit=1000");
    ASSERT_EQ(r.code, 0) << r.output;  // 9 steps, an update at step 5
  }
  const ModelFile a = read_model_file(dir("1") + "/model.pt");
  const ModelFile b = read_model_file(dir("2") + "/model.pt");
  for (const auto& [name, tensor] : a.state) {
    EXPECT_TRUE(torch::allclose(b.state.at(name), tensor, 1e-5, 1e-6)) << name;
  }
}

TEST_F(DataParallel, ARankThatDiesEndsTheJobWithAnError) {
  const std::string cfg = config("rigl");
  const auto start = std::chrono::steady_clock::now();
  auto r =
      run_cigl("--config " + cfg + " --output " + dir("run") + " --nproc 2",
               "CIGL_TEST_KILL_AT=step:7 CIGL_TEST_KILL_RANK=1");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 1 was killed by signal 9"), std::string::npos)
      << r.output;
  EXPECT_LT(seconds, 120.0);  // bounded, not a hang
  const auto status = json_of(dir("run") + "/status.json");
  EXPECT_EQ(status["state"], "failed") << status.dump();
  EXPECT_FALSE(fs::exists(dir("run") + "/model.pt"));
}

TEST_F(DataParallel, ARankThatHangsEndsTheJobWithinTheTimeout) {
  const std::string cfg = config("rigl");
  const auto start = std::chrono::steady_clock::now();
  // Rank 1 stops itself (SIGSTOP) mid-epoch: rank 0's next collective
  // times out after 3 s.
  auto r = run_cigl("--config " + cfg + " --output " + dir("run") +
                        " --nproc 2 --set distributed.timeout_seconds=3",
                    "CIGL_TEST_KILL_AT=step:7 CIGL_TEST_KILL_RANK=1 "
                    "CIGL_TEST_KILL_SIGNAL=19");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("another rank has died or stopped responding"),
            std::string::npos)
      << r.output;
  EXPECT_LT(seconds, 120.0);
  EXPECT_EQ(json_of(dir("run") + "/status.json")["state"], "failed");
}

// SIGTERM to one rank stops both at the same step with a checkpoint;
// resuming with two ranks ends exactly as a run never interrupted.
TEST_F(DataParallel, ATwoRankRunStopsTogetherAndResumes) {
  const std::string cfg = config("rigl");
  auto whole =
      run_cigl("--config " + cfg + " --output " + dir("whole") + " --nproc 2");
  ASSERT_EQ(whole.code, 0) << whole.output;
  auto stopped =
      run_cigl("--config " + cfg + " --output " + dir("run") + " --nproc 2",
               "CIGL_TEST_KILL_AT=step:25 CIGL_TEST_KILL_RANK=1 "
               "CIGL_TEST_KILL_SIGNAL=15");
  ASSERT_EQ(stopped.code, 143) << stopped.output;
  const auto status = json_of(dir("run") + "/status.json");
  EXPECT_EQ(status["state"], "interrupted");
  EXPECT_EQ(status["step"], 25);  // both stopped after the same step

  auto other = run_cigl("--resume " + dir("run"));
  EXPECT_EQ(other.code, 2) << other.output;
  EXPECT_NE(other.output.find("was written by a run of 2 rank(s), this one has "
                              "1: resume with as many (cigl-run --nproc 2"),
            std::string::npos)
      << other.output;

  auto resumed = run_cigl("--resume " + dir("run") + " --nproc 2");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos);
  EXPECT_EQ(json_of(dir("run") + "/metrics.json")["test"],
            json_of(dir("whole") + "/metrics.json")["test"]);
  EXPECT_EQ(test::read_file(dir("run") + "/history.csv").size() > 0, true);
}

/// Runs `cigl-run args` once per environment, all at once; their results.
std::vector<test::CommandResult> run_together(
    const std::string& args, const std::vector<std::string>& envs) {
  std::vector<test::CommandResult> results(envs.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < envs.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = run_cigl(args, envs[i]); });
  }
  for (auto& t : threads) t.join();
  return results;
}

// torchrun starts every rank itself with RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR and MASTER_PORT: the same run as --nproc 2.
TEST_F(DataParallel, TorchrunsEnvironmentMakesEachProcessARank) {
  const std::string cfg = config("cigl", 1);
  auto reference =
      run_cigl("--config " + cfg + " --output " + dir("nproc") + " --nproc 2");
  ASSERT_EQ(reference.code, 0) << reference.output;
  const std::string port = std::to_string(free_local_port());
  std::vector<std::string> envs;
  for (int r = 0; r < 2; ++r) {
    envs.push_back("RANK=" + std::to_string(r) +
                   " LOCAL_RANK=" + std::to_string(r) +
                   " WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 "
                   "MASTER_PORT=" +
                   port);
  }
  auto results =
      run_together("--config " + cfg + " --output " + dir("run"), envs);
  EXPECT_EQ(results[0].code, 0) << results[0].output;
  EXPECT_EQ(results[1].code, 0) << results[1].output;
  EXPECT_EQ(results[1].output, "");  // rank 1 says nothing
  EXPECT_EQ(json_of(dir("run") + "/metrics.json")["test"],
            json_of(dir("nproc") + "/metrics.json")["test"]);
}

/// A port in [10000, 30000) free now: what Slurm's derived port will be.
int free_port_below_30000() {
  for (int port = 20000 + ::getpid() % 9000; port < 30000; ++port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool free =
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

// srun gives each task SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and the
// node list; the port comes from the job id.
TEST_F(DataParallel, SlurmsEnvironmentMakesEachTaskARank) {
  const std::string cfg = config("rigl", 1);
  const int port = free_port_below_30000();
  ASSERT_GT(port, 0);
  std::vector<std::string> envs;
  for (int r = 0; r < 2; ++r) {
    envs.push_back("SLURM_PROCID=" + std::to_string(r) +
                   " SLURM_LOCALID=" + std::to_string(r) +
                   " SLURM_NTASKS=2 SLURM_JOB_NODELIST=localhost "
                   "SLURM_JOB_ID=" +
                   std::to_string(port - 10000));
  }
  auto results =
      run_together("--config " + cfg + " --output " + dir("run"), envs);
  EXPECT_EQ(results[0].code, 0) << results[0].output;
  EXPECT_EQ(results[1].code, 0) << results[1].output;
  EXPECT_NE(results[0].output.find("2 ranks (gloo)"), std::string::npos);
  EXPECT_EQ(json_of(dir("run") + "/status.json")["state"], "done");
}

// A config error shows once, before any rank starts.
TEST_F(DataParallel,
       AGlobalBatchThatDoesNotSplitIsOneErrorBeforeAnyRankStarts) {
  const std::string cfg = config("rigl", 1);
  auto r =
      run_cigl("--config " + cfg + " --output " + dir("run") + " --nproc 3");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("training.batch_size = 100 (the global batch) does "
                          "not split evenly over 3 ranks"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace cigl
