// Run folders: one owner at a time, status.json, and clearing a run's
// files without touching anything else.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cigl/core/run_folder.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;

TEST(RunFolder, ASecondOwnerIsRefusedWithTheFirstOnesPid) {
  test::TempDir dir("folder");
  const std::string path = dir.file("run");
  RunFolder first(path);
  try {
    RunFolder second(path);
    FAIL() << "two owners";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("in use by process " + std::to_string(getpid())),
              std::string::npos)
        << what;
  }
}

TEST(RunFolder, TheLockIsFreeAgainOnceTheOwnerIsGone) {
  test::TempDir dir("folder");
  { RunFolder first(dir.file("run")); }
  EXPECT_NO_THROW(RunFolder again(dir.file("run")));
}

TEST(RunFolder, StatusIsWrittenAsJsonAndReadBack) {
  test::TempDir dir("folder");
  RunFolder folder(dir.file("run"));
  RunStatus status;
  status.state = RunState::interrupted;
  status.epoch = 3;
  status.epochs = 12;
  status.step = 1290;
  status.reason = "SIGTERM";
  status.checkpoint = true;
  folder.write_status(status);

  const auto json =
      nlohmann::json::parse(test::read_file(dir.file("run/status.json")));
  EXPECT_EQ(json["state"], "interrupted");
  EXPECT_EQ(json["epoch"], 3);
  EXPECT_EQ(json["epochs"], 12);
  EXPECT_EQ(json["step"], 1290);
  EXPECT_EQ(json["reason"], "SIGTERM");
  EXPECT_EQ(json["checkpoint"], true);
  EXPECT_EQ(json["pid"], getpid());

  const auto contents = read_run_folder(dir.file("run"));
  ASSERT_TRUE(contents.status.has_value());
  EXPECT_EQ(contents.status->state, RunState::interrupted);
  EXPECT_EQ(contents.status->epoch, 3);
  EXPECT_TRUE(contents.is_run);
  EXPECT_FALSE(contents.finished());
}

TEST(RunFolder, ContentsTellANewAForeignAndAFinishedFolderApart) {
  test::TempDir dir("folder");
  fs::create_directories(dir.path() / "new");
  auto c = read_run_folder(dir.file("new"));
  EXPECT_TRUE(c.empty);
  EXPECT_FALSE(c.is_run);

  fs::create_directories(dir.path() / "foreign");
  test::write_file(dir.file("foreign/thesis.tex"), "x");
  c = read_run_folder(dir.file("foreign"));
  EXPECT_FALSE(c.empty);
  EXPECT_FALSE(c.is_run);

  // A folder of an older cigl: no status.json, finished if it has metrics.
  fs::create_directories(dir.path() / "old");
  test::write_file(dir.file("old/config.toml"), "");
  test::write_file(dir.file("old/metrics.json"), "{}");
  c = read_run_folder(dir.file("old"));
  EXPECT_TRUE(c.is_run);
  EXPECT_TRUE(c.finished());
}

TEST(RunFolder, ClearingRemovesTheRunsFilesAndNothingElse) {
  test::TempDir dir("folder");
  RunFolder folder(dir.file("run"));
  for (const char* name :
       {"config.toml", "history.csv", "metrics.json", "predictions.csv",
        "reliability.svg", "history.svg", "model.pt", "checkpoint.pt",
        "status.json", ".metrics.json.tmp.123", "notes.txt", "log.txt"}) {
    test::write_file(dir.file(std::string("run/") + name), "x");
  }
  folder.clear_outputs();
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path() / "run")) {
    left.push_back(e.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left,
            (std::vector<std::string>{"log.txt", "notes.txt", "run.lock"}));
}

}  // namespace
}  // namespace cigl
