// Whole-file replacement and checked appends: a reader never sees half a
// file, and a failing write is an error naming the file.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "cigl/core/files.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Files, AtomicWriteReplacesTheWholeFileAndLeavesNoTemporary) {
  test::TempDir dir("files");
  const std::string path = dir.file("metrics.json");
  write_file_atomic(path, "first version, longer than the second\n");
  write_file_atomic(path, "second\n");
  EXPECT_EQ(test::read_file(path), "second\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"metrics.json"});
  EXPECT_EQ(read_file(path), "second\n");
}

TEST(Files, AtomicWriteIntoAMissingFolderNamesTheFile) {
  test::TempDir dir("files");
  const std::string path = dir.file("no/such/folder/config.toml");
  try {
    write_file_atomic(path, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos)
        << e.what();
  }
}

// A write that the operating system refuses (here a file-size limit, as a
// full disk would) is an error, and the previous file stays whole.
TEST(Files, ARefusedWriteKeepsThePreviousFileAndRemovesTheTemporary) {
  test::TempDir dir("files");
  const std::string path = dir.file("model.pt");
  write_file_atomic(path, "old");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    int code = 0;
    try {
      write_file_atomic(path, std::string(100000, 'x'));
      code = 1;  // no error: wrong
    } catch (const Error& e) {
      const std::string what = e.what();
      code = what.find(path) != std::string::npos &&
                     what.find("File too large") != std::string::npos
                 ? 0
                 : 2;
    }
    _exit(code);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error, 2: wrong message";
  EXPECT_EQ(test::read_file(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"model.pt"});
}

TEST(Files, AppendFileAddsEachLineAtOnce) {
  test::TempDir dir("files");
  const std::string path = dir.file("history.csv");
  write_file_atomic(path, "epoch,loss\n");
  AppendFile file(path);
  file.append("1,0.5\n");
  // Readable before the file is closed: nothing waits in a buffer.
  EXPECT_EQ(test::read_file(path), "epoch,loss\n1,0.5\n");
  file.append("2,0.25\n");
  file.close();
  EXPECT_EQ(test::read_file(path), "epoch,loss\n1,0.5\n2,0.25\n");
}

TEST(Files, ReadingAMissingFileNamesIt) {
  EXPECT_THROW(
      {
        try {
          read_file("/nonexistent/cigl/file");
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("/nonexistent/cigl/file"),
                    std::string::npos);
          throw;
        }
      },
      Error);
}

}  // namespace
}  // namespace cigl
