// DataFile: what every dataset reader opens its files with. Non-regular
// files are refused before they are opened (a FIFO used to block forever,
// /dev/zero to end in std::bad_alloc, a folder to read as "corrupt gzip"),
// and the operating system's reason is kept.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cigl/data_file.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::string open_error(const std::string& path) {
  try {
    DataFile file(path);
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << path << " opened";
  return "";
}

class DataFileTest : public ::testing::Test {
 protected:
  test::TempDir dir{"data-file"};
};

TEST_F(DataFileTest, RegularFileOpensWithItsSize) {
  test::write_file(dir.file("a.bin"), "12345");
  DataFile file(dir.file("a.bin"));
  EXPECT_EQ(file.size(), 5u);
  char buffer[5];
  file.read_exactly(buffer, 5);
  EXPECT_EQ(std::string(buffer, 5), "12345");
}

TEST_F(DataFileTest, FolderFifoAndDeviceAreRefusedBeforeOpening) {
  EXPECT_EQ(open_error(dir.path().string()),
            dir.path().string() + ": is a folder, not a data file");
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO with no writer blocks: reaching the assertion at all is
  // half the test (ctest's timeout would catch a hang).
  EXPECT_EQ(open_error(fifo), fifo +
                                  ": is a FIFO (named pipe), not a data file "
                                  "(reading it could block forever)");
  const std::string zero = dir.file("zero");
  std::filesystem::create_symlink("/dev/zero", zero);
  EXPECT_EQ(open_error(zero),
            zero + " (-> /dev/zero): is a character device, not a data file");
}

TEST_F(DataFileTest, MissingFileAndDanglingLinkAreNamed) {
  EXPECT_EQ(open_error(dir.file("none")), dir.file("none") + ": not found");
  std::filesystem::create_symlink(dir.file("gone"), dir.file("link"));
  EXPECT_EQ(open_error(dir.file("link")),
            dir.file("link") + " (-> " + dir.file("gone") + "): not found");
}

TEST_F(DataFileTest, TheOperatingSystemsReasonIsKept) {
  test::write_file(dir.file("plain"), "x");
  EXPECT_EQ(open_error(dir.file("plain") + "/inside"),
            dir.file("plain") + "/inside: cannot read: Not a directory");
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  ASSERT_EQ(chmod(dir.file("plain").c_str(), 0), 0);
  EXPECT_EQ(open_error(dir.file("plain")),
            dir.file("plain") + ": cannot open: Permission denied");
}

TEST_F(DataFileTest, ReadingPastTheEndSaysHowMuchWasThere) {
  test::write_file(dir.file("short"), "abc");
  DataFile file(dir.file("short"));
  char buffer[8];
  try {
    file.read_exactly(buffer, 8);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("short") +
                  ": truncated: ended after 3 of 8 bytes (did it change "
                  "while being read?)");
  }
}

}  // namespace
}  // namespace cigl
