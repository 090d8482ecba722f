#pragma once
// Writing files so that nothing a user reads is half written: whole files
// are replaced atomically, appended files check every write, and a failing
// write (a full disk, a file-size limit) is one error naming the file and
// the operating system's reason.
#include <string>
#include <string_view>

#include "cigl/export.hpp"

namespace cigl {

/// Replaces `path` with `bytes`: written to a temporary file in the same
/// folder, every write checked, flushed to disk (fsync), renamed over
/// `path`, and the folder synced. A kill at any instant leaves the old
/// file or the new one, never a part. Throws Error "cannot write <path>:
/// <reason>" and leaves no temporary file behind.
CIGL_API void write_file_atomic(const std::string& path,
                                std::string_view bytes);

/// The whole content of `path`; throws Error naming the file and reason.
CIGL_API std::string read_file(const std::string& path);

/// Flushes a folder's entries (new and renamed names) to disk.
CIGL_API void sync_directory(const std::string& dir);

/// A text file that grows line by line (history.csv): every append is
/// written to the operating system at once and checked, so a row is either
/// there or reported as an error.
class CIGL_API AppendFile {
 public:
  AppendFile() = default;
  /// Opens `path` for appending (created if missing).
  explicit AppendFile(const std::string& path);
  ~AppendFile();
  AppendFile(AppendFile&& other) noexcept;
  AppendFile& operator=(AppendFile&& other) noexcept;
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  bool is_open() const { return fd_ >= 0; }
  /// Writes all of `text`; throws Error naming the file on any failure.
  void append(std::string_view text);
  /// Closes the file, checking the close; throws Error on failure.
  void close();

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace cigl
