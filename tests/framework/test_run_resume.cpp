// Runs that survive: a run killed at any instant (kill -9, or a signal
// that asks it to stop) and continued with --resume ends with exactly the
// test metrics and density of a run never interrupted; folders never mix
// two runs; a failed write is one error and no finished-looking folder.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cigl/core/checkpoint.hpp"
#include "cigl/core/config.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;
using test::run_cigl;

// 1800 training examples in batches of 100: 18 steps per epoch, 54 in all,
// topology updates every 5 steps, CigL averaging the last epoch.
std::string config_text(const std::string& method) {
  std::string text = R"(
[experiment]
name = "survive"
threads = 1
[training]
epochs = 3
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
[method]
plugin = ")" + method +
                     "\"\n";
  if (method != "dense") text += "density = 0.2\n";
  if (method == "rigl" || method == "cigl") text += "update_interval = 5\n";
  return text;
}

nlohmann::json metrics_of(const std::string& dir) {
  return nlohmann::json::parse(test::read_file(dir + "/metrics.json"));
}

nlohmann::json status_of(const std::string& dir) {
  return nlohmann::json::parse(test::read_file(dir + "/status.json"));
}

// history.csv without the wall-time column, which differs between runs.
std::vector<std::string> history_rows(const std::string& dir) {
  std::vector<std::string> rows;
  std::stringstream in(test::read_file(dir + "/history.csv"));
  for (std::string line; std::getline(in, line);) {
    rows.push_back(line.substr(0, line.rfind(',')));
  }
  return rows;
}

class Survival : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<test::TempDir>("survive-" + GetParam());
    config_ = dir_->file("exp.toml");
    test::write_file(config_, config_text(GetParam()));
  }
  std::string run(const std::string& name, const std::string& extra = "",
                  const std::string& env = "", int expected = 0) {
    const std::string out = dir_->file(name);
    auto r =
        run_cigl("--config " + config_ + " --output " + out + " " + extra, env);
    EXPECT_EQ(r.code, expected) << r.output;
    return out;
  }
  std::unique_ptr<test::TempDir> dir_;
  std::string config_;
};

// Killed at each instant, then resumed: the same numbers as a run that
// was never interrupted, and each epoch once in history.csv.
TEST_P(Survival, EveryKillPointResumesToTheSameResults) {
  const std::string whole = run("whole");
  const auto expected = metrics_of(whole);
  const auto expected_history = history_rows(whole);
  ASSERT_EQ(expected_history.size(), 4u);
  EXPECT_FALSE(fs::exists(whole + "/checkpoint.pt"));  // removed when done
  EXPECT_EQ(status_of(whole)["state"], "done");

  struct Case {
    const char* point;
    const char* extra;
    int signal;
  };
  const Case cases[] = {
      {"step:25", "", 9},       // mid epoch 2; checkpoint of epoch 1
      {"validation:2", "", 9},  // epoch 2 trained, not validated
      {"test", "", 9},          // training done, final evaluation
      {"outputs", "", 9},       // metrics.json written, the rest not
      {"step:25", "", 15},      // SIGTERM: stop with a mid-epoch checkpoint
      {"step:40", "--set experiment.checkpoint_minutes=1e-9", 9},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.point) + " signal " + std::to_string(c.signal));
    const std::string name = "killed" + std::to_string(n++);
    const std::string env =
        std::string("CIGL_TEST_KILL_AT=") + c.point +
        " CIGL_TEST_KILL_SIGNAL=" + std::to_string(c.signal);
    const std::string dir = run(name, c.extra, env, 128 + c.signal);
    EXPECT_FALSE(fs::exists(dir + "/model.pt"));
    if (c.signal == 15) {
      const auto status = status_of(dir);
      EXPECT_EQ(status["state"], "interrupted");
      EXPECT_EQ(status["reason"], "SIGTERM");
      EXPECT_EQ(status["step"], 25);  // stopped at that step boundary
    } else {
      EXPECT_EQ(status_of(dir)["state"], "running");  // killed: no word
    }
    // A plain re-run does not silently start over.
    auto again =
        run_cigl("--config " + config_ + " --output " + dir + " " + c.extra);
    EXPECT_EQ(again.code, 2) << again.output;
    EXPECT_NE(again.output.find("--resume " + dir), std::string::npos)
        << again.output;

    auto resumed = run_cigl("--resume " + dir);
    ASSERT_EQ(resumed.code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed from"), std::string::npos);
    EXPECT_NE(resumed.output.find("results in " + dir), std::string::npos);
    const auto got = metrics_of(dir);
    EXPECT_EQ(got["test"], expected["test"]);
    EXPECT_EQ(got["density"], expected["density"]);
    EXPECT_EQ(got["steps"], expected["steps"]);
    EXPECT_EQ(history_rows(dir), expected_history);
    EXPECT_EQ(status_of(dir)["state"], "done");
    EXPECT_TRUE(fs::exists(dir + "/model.pt"));
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, Survival,
                         ::testing::Values("dense", "rigl", "cigl"));

class RunFolders : public ::testing::Test {
 protected:
  test::TempDir dir_{"folders"};
  std::string config(const std::string& name, const std::string& extra = "") {
    const std::string path = dir_.file(name);
    test::write_file(path, config_text("static") + extra);
    return path;
  }
};

TEST_F(RunFolders, HistoryHasItsHeaderFromTheStart) {
  const std::string out = dir_.file("run");
  auto r = run_cigl("--config " + config("a.toml") + " --output " + out,
                    "CIGL_TEST_KILL_AT=step:3");
  EXPECT_EQ(r.code, 137) << r.output;
  EXPECT_EQ(test::read_file(out + "/history.csv").rfind("epoch,step,lr", 0),
            0u);
}

TEST_F(RunFolders, AFinishedRunIsNeitherRepeatedNorMixedWithAnother) {
  const std::string out = dir_.file("run");
  auto first = run_cigl("--config " + config("a.toml") + " --output " + out +
                        " --set experiment.save_predictions=true");
  ASSERT_EQ(first.code, 0) << first.output;
  ASSERT_TRUE(fs::exists(out + "/predictions.csv"));

  // Same config again: refused, the results stay.
  auto same = run_cigl("--config " + config("a.toml") + " --output " + out +
                       " --set experiment.save_predictions=true");
  EXPECT_EQ(same.code, 2);
  EXPECT_NE(same.output.find("already holds a finished run of this config"),
            std::string::npos)
      << same.output;

  // Another config: refused unless --overwrite, which clears the old run.
  const std::string other = config("b.toml");
  auto refused = run_cigl("--config " + other + " --output " + out +
                          " --set training.epochs=1");
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.output.find("holds a run of another config"),
            std::string::npos)
      << refused.output;
  EXPECT_TRUE(fs::exists(out + "/predictions.csv"));

  auto replaced = run_cigl("--config " + other + " --output " + out +
                           " --set training.epochs=1 --overwrite");
  ASSERT_EQ(replaced.code, 0) << replaced.output;
  EXPECT_FALSE(fs::exists(out + "/predictions.csv"));  // not the new run's
  EXPECT_NE(test::read_file(out + "/config.toml").find("epochs = 1"),
            std::string::npos);
  EXPECT_EQ(metrics_of(out)["steps"], 18);
}

TEST_F(RunFolders, ResumingAFinishedRunSaysSoAndANewFolderHasNothingToResume) {
  const std::string out = dir_.file("run");
  ASSERT_EQ(run_cigl("--config " + config("a.toml") + " --output " + out).code,
            0);
  auto finished = run_cigl("--resume " + out);
  EXPECT_EQ(finished.code, 0) << finished.output;
  EXPECT_NE(finished.output.find("finished"), std::string::npos);

  auto none = run_cigl("--resume " + dir_.file("nothing"));
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.output.find("is not a run folder"), std::string::npos)
      << none.output;

  // Checkpoints off and killed: nothing to continue from.
  const std::string off = dir_.file("off");
  auto killed = run_cigl("--config " + config("a.toml") + " --output " + off +
                             " --set experiment.checkpoint_every=0",
                         "CIGL_TEST_KILL_AT=step:30");
  EXPECT_EQ(killed.code, 137);
  auto no_checkpoint = run_cigl("--resume " + off);
  EXPECT_EQ(no_checkpoint.code, 2);
  EXPECT_NE(no_checkpoint.output.find("no checkpoint.pt to resume from"),
            std::string::npos)
      << no_checkpoint.output;
}

TEST_F(RunFolders, ResumeOrStartContinuesAnInterruptedRunOrStartsANewOne) {
  const std::string out = dir_.file("run");
  const std::string args = "--config " + config("a.toml") + " --output " + out;
  auto fresh = run_cigl(args + " --resume");
  ASSERT_EQ(fresh.code, 0) << fresh.output;
  EXPECT_EQ(fresh.output.find("resumed from"), std::string::npos);
  auto again = run_cigl(args + " --resume");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("finished"), std::string::npos);
}

TEST_F(RunFolders, ASecondProcessIntoABusyFolderFailsAtOnce) {
  const std::string out = dir_.file("run");
  const std::string args = "--config " + config("a.toml") + " --output " + out +
                           " --set training.epochs=3";
  // The first suspends itself mid-training, holding the folder.
  std::thread first([&] {
    auto r = run_cigl(args, "CIGL_TEST_KILL_AT=step:20 CIGL_TEST_KILL_SIGNAL=" +
                                std::to_string(SIGSTOP));
    EXPECT_EQ(r.code, 0) << r.output;
  });
  long long pid = 0;
  for (int i = 0; i < 6000 && pid == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      pid = status_of(out).value("pid", 0LL);
    } catch (const std::exception&) {
      // Not written yet, or being replaced this instant.
    }
  }
  const bool suspended = test::wait_until_suspended(pid);
  EXPECT_TRUE(suspended);
  const auto started = std::chrono::steady_clock::now();
  auto second = run_cigl(args + " --overwrite");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  if (pid > 0) kill(static_cast<pid_t>(pid), SIGCONT);
  first.join();
  EXPECT_EQ(second.code, 2) << second.output;
  EXPECT_NE(second.output.find("is in use by process"), std::string::npos)
      << second.output;
  EXPECT_LT(seconds, 20) << "it waited instead of failing";
  // The first finished intact: its own config, 3 epochs of history.
  EXPECT_EQ(status_of(out)["state"], "done");
  EXPECT_EQ(metrics_of(out)["steps"], 3 * 18);
}

TEST_F(RunFolders, AFullDiskIsOneErrorAndNoFinishedLookingFolder) {
  // A file-size limit fails writes as a full disk does: at the first
  // checkpoint, or (checkpoints off) at the results after training.
  const std::pair<const char*, const char*> cases[] = {
      {"40", ""}, {"60", " --set experiment.checkpoint_every=0"}};
  for (const auto& [limit, extra] : cases) {
    SCOPED_TRACE(limit);
    const std::string out = dir_.file(std::string("full") + limit);
    auto r = run_cigl("--config " + config("a.toml") + " --output " + out +
                          " --set experiment.save_predictions=true" + extra,
                      std::string("ulimit -f ") + limit + ";");
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(r.output.find("results in"), std::string::npos) << r.output;
    std::size_t errors = 0;
    for (std::size_t at = r.output.find("error: "); at != std::string::npos;
         at = r.output.find("error: ", at + 1)) {
      ++errors;
    }
    EXPECT_EQ(errors, 1u) << r.output;
    EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
    const auto status = status_of(out);
    EXPECT_EQ(status["state"], "failed");
    // Whatever is there is whole: valid JSON, complete CSV rows.
    if (fs::exists(out + "/metrics.json")) {
      EXPECT_NO_THROW(metrics_of(out));
    }
    if (fs::exists(out + "/predictions.csv")) {
      const auto text = test::read_file(out + "/predictions.csv");
      EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 501);
    }
    for (const auto& e : fs::directory_iterator(out)) {
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
          << e.path();
    }
  }
}

TEST_F(RunFolders, ACheckpointOfAnotherBuildIsRefusedUnlessForced) {
  const std::string out = dir_.file("run");
  auto killed = run_cigl("--config " + config("a.toml") + " --output " + out,
                         "CIGL_TEST_KILL_AT=step:20");
  ASSERT_EQ(killed.code, 137) << killed.output;
  // The same state, as if an older mlp plugin had written it.
  {
    auto saved = ConfigDocument::from_file(out + "/config.toml")
                     .resolve(test::bundled_registry());
    Trainer trainer(saved, test::bundled_registry());
    BuildInfo build = current_build(saved, test::bundled_registry());
    build.plugins["mlp"] = "0.9.0";
    save_checkpoint(out + "/checkpoint.pt", trainer, {}, build);
  }
  auto refused = run_cigl("--resume " + out);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("was written by another build (plugin mlp "
                                "0.9.0 -> 1.0.0)"),
            std::string::npos)
      << refused.output;
  auto forced = run_cigl("--resume " + out + " --force");
  EXPECT_EQ(forced.code, 0) << forced.output;
  EXPECT_EQ(status_of(out)["state"], "done");
}

TEST_F(RunFolders, ANonEmptyFolderThatIsNoRunIsLeftAlone) {
  const std::string out = dir_.file("home");
  fs::create_directories(out);
  test::write_file(out + "/thesis.tex", "keep me");
  auto r = run_cigl("--config " + config("a.toml") + " --output " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("holds no cigl run"), std::string::npos) << r.output;
  EXPECT_EQ(test::read_file(out + "/thesis.tex"), "keep me");
}

}  // namespace
}  // namespace cigl
