// The results index (results_index.cpp): resume semantics, heartbeats,
// concurrent writers and racing claims.
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

CellIdentity identity(std::int64_t i, const std::string& fingerprint = "f") {
  return {i, "cell" + std::to_string(i), "{\"i\": " + std::to_string(i) + "}",
          fingerprint};
}

// A cell known by its values, wherever the matrix puts it.
CellIdentity cell(std::int64_t i, const std::string& value) {
  return {i, "cell-" + value, "{\"v\": \"" + value + "\"}", "f"};
}

// A pid that certainly belonged to a process which has exited.
std::int64_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(ResultsIndex, DoneCellsAreSkippedFailedAndDeadOnesRetried) {
  test::TempDir dir("index-resume");
  ResultsIndex index(dir.file("results.sqlite"));
  index.add_missing({identity(0), identity(1), identity(2), identity(3)});
  const std::string host = host_name();
  const auto me = static_cast<std::int64_t>(getpid());

  ASSERT_TRUE(index.claim(identity(0), me, host));
  index.finish(0, {{"accuracy", 0.9}, {"ece", 0.02}}, "runs/x", 3.5);
  ASSERT_TRUE(index.claim(identity(1), me, host));
  index.fail(1, "boom", 1.0);
  index.start(identity(2), dead_pid(), host, true);  // killed mid-run
  ASSERT_TRUE(index.claim(identity(3), me, host));   // alive: this process

  EXPECT_FALSE(index.claim(identity(0), me, host)) << "done: skipped";
  EXPECT_TRUE(index.claim(identity(1), me, host)) << "failed: retried";
  EXPECT_TRUE(index.claim(identity(2), me, host)) << "dead: retried";
  EXPECT_FALSE(index.claim(identity(3), me, host)) << "live: left alone";
  // The same cell under a changed config is stale and runs again.
  EXPECT_TRUE(index.claim(identity(0, "changed"), me, host));

  auto rows = index.all();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].attempts, 2);
  EXPECT_EQ(rows[0].status, CellStatus::running);
  EXPECT_EQ(rows[0].fingerprint, "changed");
  EXPECT_TRUE(rows[0].metrics.empty()) << "a new attempt clears the result";
  EXPECT_EQ(rows[1].attempts, 2);
  EXPECT_EQ(rows[1].error, "");
  EXPECT_EQ(rows[2].attempts, 2);
  EXPECT_EQ(rows[3].attempts, 1);

  index.finish(0, {{"accuracy", 0.75}, {"density", 0.1}}, "runs/y", 2);
  auto row = index.get(0);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->status, CellStatus::done);
  ASSERT_NE(row->metric("accuracy"), nullptr);
  EXPECT_DOUBLE_EQ(*row->metric("accuracy"), 0.75);
  EXPECT_EQ(row->run_dir, "runs/y");
  EXPECT_EQ(row->host, host);
}

TEST(ResultsIndex, StaleHeartbeatOnAnotherHostCountsAsDead) {
  CellRecord r;
  r.status = CellStatus::running;
  r.host = "elsewhere";
  r.pid = 1;
  r.heartbeat = 1000;
  EXPECT_TRUE(running_alive(r, "here", 1000 + kStaleSeconds - 1));
  EXPECT_FALSE(running_alive(r, "here", 1000 + kStaleSeconds + 1));
  EXPECT_TRUE(needs_run(r, "f", "here", 1000 + kStaleSeconds + 1));
}

TEST(ResultsIndex, ConcurrentWritersLoseNothing) {
  test::TempDir dir("index-concurrent");
  const std::string path = dir.file("results.sqlite");
  constexpr int kWriters = 4, kRowsEach = 5, kRounds = 40;
  {
    ResultsIndex index(path);
    std::vector<CellIdentity> cells;
    for (int i = 0; i < kWriters * kRowsEach; ++i) cells.push_back(identity(i));
    index.add_missing(cells);
  }  // closed before fork: a connection must not cross a fork
  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      try {
        ResultsIndex index(path);
        for (int round = 0; round < kRounds; ++round) {
          for (int k = 0; k < kRowsEach; ++k) {
            const int i = w * kRowsEach + k;
            index.start(identity(i), getpid(), host_name(), true);
            index.heartbeat(i);
            index.finish(i, {{"accuracy", i / 100.0}, {"round", round + 0.0}},
                         "d", 0.1);
          }
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", w, e.what());
        code = 1;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a writer failed (see its message above)";
  }
  ResultsIndex index(path);
  auto rows = index.all();
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kWriters * kRowsEach));
  for (const auto& r : rows) {
    EXPECT_EQ(r.status, CellStatus::done) << r.name;
    EXPECT_EQ(r.attempts, kRounds) << r.name;
    ASSERT_NE(r.metric("accuracy"), nullptr);
    EXPECT_DOUBLE_EQ(*r.metric("accuracy"), r.index / 100.0);
    EXPECT_DOUBLE_EQ(*r.metric("round"), kRounds - 1.0);
  }
}

TEST(ResultsIndex, RowsFollowTheirCellWhenTheMatrixGrowsOrShrinks) {
  test::TempDir dir("index-renumber");
  ResultsIndex index(dir.file("results.sqlite"));
  index.add_missing({cell(0, "a"), cell(1, "b"), cell(2, "c")});
  ASSERT_TRUE(index.claim(cell(1, "b"), getpid(), host_name()));
  index.finish(1, {{"accuracy", 0.5}}, "cells/001-b", 1.0);
  // A value added in front: b is now cell 2, and still done.
  const std::vector<CellIdentity> grown = {cell(0, "x"), cell(1, "a"),
                                           cell(2, "b"), cell(3, "c")};
  index.add_missing(grown);
  auto rows = index.all();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].overrides, grown[0].overrides);
  EXPECT_EQ(rows[0].status, CellStatus::pending);
  EXPECT_EQ(rows[2].overrides, grown[2].overrides);
  EXPECT_EQ(rows[2].status, CellStatus::done);
  EXPECT_EQ(rows[2].run_dir, "cells/001-b");
  EXPECT_FALSE(index.claim(grown[2], getpid(), host_name()));  // not re-run
  // Shrunk to b alone: the others leave the view, b keeps its result.
  index.add_missing({cell(0, "b")});
  rows = index.all();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].index, 0);
  EXPECT_EQ(rows[0].status, CellStatus::done);
  ASSERT_NE(rows[0].metric("accuracy"), nullptr);
  EXPECT_DOUBLE_EQ(*rows[0].metric("accuracy"), 0.5);
  // And back: the parked rows return to their cells.
  index.add_missing(grown);
  rows = index.all();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[2].status, CellStatus::done);
  EXPECT_EQ(rows[1].overrides, grown[1].overrides);
}

TEST(ResultsIndex, RacingClaimsTakeEachCellExactlyOnce) {
  // Four processes (as overlapping matrix runs or Slurm tasks would) try
  // to claim the same ten cells; each claim is one transaction, so every
  // cell goes to exactly one of them, and the rest see it taken.
  test::TempDir dir("index-claims");
  const std::string path = dir.file("results.sqlite");
  constexpr int kProcesses = 4, kCells = 10;
  { ResultsIndex index(path); }
  std::vector<pid_t> children;
  for (int w = 0; w < kProcesses; ++w) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int taken = 0;
      try {
        ResultsIndex index(path);
        for (int i = 0; i < kCells; ++i) {
          // Our own pid: alive while the others try, so never "dead".
          if (index.claim(identity(i), getppid(), host_name())) ++taken;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "claimer %d: %s\n", w, e.what());
        _exit(100);
      }
      _exit(taken);
    }
    children.push_back(pid);
  }
  int total = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) <= kCells);
    total += WEXITSTATUS(status);
  }
  EXPECT_EQ(total, kCells);
  ResultsIndex index(path);
  for (const auto& r : index.all()) {
    EXPECT_EQ(r.status, CellStatus::running) << r.name;
    EXPECT_EQ(r.attempts, 1) << r.name;
  }
}

}  // namespace
}  // namespace cigl
