#pragma once
// Opening a data file the way every reader must: a folder, a FIFO or a
// device given as a data file is refused before it is opened (a FIFO would
// block forever, /dev/zero never ends), and the operating system's reason
// is kept when opening fails.
#include <cstdint>
#include <string>

#include "cigl/export.hpp"

namespace cigl {

/// An open, read-only regular file. Throws DataError naming the file:
/// "<path>: is a folder, not a data file", "<path> (-> /dev/zero): is a
/// character device, not a data file", "<path>: cannot open: Permission
/// denied", "<path>: not found".
class CIGL_API DataFile {
 public:
  explicit DataFile(const std::string& path);
  ~DataFile();
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  const std::string& path() const { return path_; }
  /// Its size in bytes when it was opened.
  std::uint64_t size() const { return size_; }
  /// The descriptor, positioned at the start; still owned by this object.
  int descriptor() const { return fd_; }
  /// Hands the descriptor over (e.g. to zlib's gzdopen, which closes it).
  int release();

  /// Reads exactly `bytes` bytes at the current position into `buffer`;
  /// throws DataError "<path>: truncated ..." or with the OS's reason.
  void read_exactly(void* buffer, std::uint64_t bytes);

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// Why `path` cannot be read as a regular file ("is a folder, not a ...
/// file", "not found", the OS's reason), or "" when it can. `what` names
/// the kind of file in the message ("data", "config").
CIGL_API std::string regular_file_problem(const std::string& path,
                                          const char* what);

}  // namespace cigl
