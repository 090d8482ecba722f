#include "cigl/data_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cigl/error.hpp"

namespace fs = std::filesystem;

namespace cigl {

namespace {

const char* type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// "<path>" or "<path> (-> target)" for a symbolic link.
std::string named(const std::string& path) {
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    const auto target = fs::read_symlink(path, ec);
    if (!ec) return path + " (-> " + target.string() + ")";
  }
  return path;
}

std::string type_problem(const std::string& path, mode_t mode,
                         const char* what) {
  const char* type = type_name(mode);
  return named(path) + ": is " + type + ", not a " + what + " file" +
         (S_ISFIFO(mode) ? " (reading it could block forever)" : "");
}

}  // namespace

std::string regular_file_problem(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) return named(path) + ": not found";
    return path + ": cannot read: " + std::strerror(error);
  }
  if (!S_ISREG(st.st_mode)) return type_problem(path, st.st_mode, what);
  return "";
}

DataFile::DataFile(const std::string& path) : path_(path) {
  // Refused before opening: opening a FIFO alone can block forever.
  std::string problem = regular_file_problem(path, "data");
  if (!problem.empty()) throw DataError(problem);
  // O_NONBLOCK: the file may have been swapped for a FIFO since.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) {
    throw DataError(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const mode_t mode = st.st_mode;
    ::close(fd_);
    throw DataError(type_problem(path, mode, "data"));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = static_cast<std::uint64_t>(st.st_size);
}

DataFile::~DataFile() {
  if (fd_ >= 0) ::close(fd_);
}

int DataFile::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void DataFile::read_exactly(void* buffer, std::uint64_t bytes) {
  auto* out = static_cast<char*>(buffer);
  std::uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::read(fd_, out + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw DataError(path_ + ": read failed after " + std::to_string(done) +
                      " of " + std::to_string(bytes) +
                      " bytes: " + std::strerror(errno));
    }
    if (n == 0) {
      throw DataError(path_ + ": truncated: ended after " +
                      std::to_string(done) + " of " + std::to_string(bytes) +
                      " bytes (did it change while being read?)");
    }
    done += static_cast<std::uint64_t>(n);
  }
}

}  // namespace cigl
