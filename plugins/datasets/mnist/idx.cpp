#include "idx.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "cigl/data_file.hpp"
#include "cigl/error.hpp"

namespace cigl::idx {

namespace {

/// Deflate's best case is about 1032:1, so a gzip file of n bytes cannot
/// hold more than this many times n (with room for headers).
constexpr std::uint64_t kMaxGzipRatio = 1100;
/// With a limit, a gzip stream's buffer starts at most this large and
/// doubles as data actually arrives.
constexpr std::uint64_t kFirstChunk = std::uint64_t{16} << 20;

/// A plain or gzip file through zlib, opened with DataFile's checks.
class Input {
 public:
  explicit Input(const std::string& file) : file_(file) {
    DataFile data(file);
    size_ = data.size();
    unsigned char magic[2] = {0, 0};
    gzip_ = ::pread(data.descriptor(), magic, 2, 0) == 2 && magic[0] == 0x1f &&
            magic[1] == 0x8b;
    const int fd = data.release();
    in_ = gzdopen(fd, "rb");
    if (!in_) {
      ::close(fd);
      throw DataError(file + ": cannot start reading (out of memory?)");
    }
    gzbuffer(in_, 1 << 17);
  }
  ~Input() { gzclose(in_); }
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  bool gzip() const { return gzip_; }
  /// Back to the first byte, for a second pass.
  void rewind() {
    if (gzrewind(in_) != 0) {
      throw DataError(file_ + ": cannot read it a second time (seek failed)");
    }
  }
  std::uint64_t file_size() const { return size_; }

  /// Up to `n` bytes; fewer only at the end of the data.
  std::uint64_t read(void* buffer, std::uint64_t n) {
    auto* out = static_cast<unsigned char*>(buffer);
    std::uint64_t done = 0;
    while (done < n) {
      const auto step = static_cast<unsigned>(
          std::min<std::uint64_t>(n - done, std::uint64_t{1} << 30));
      const int got = gzread(in_, out + done, step);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(in_, &code);
        throw DataError(file_ + ": corrupt gzip stream (" + message + ")");
      }
      if (got == 0) break;
      done += static_cast<std::uint64_t>(got);
    }
    return done;
  }

 private:
  std::string file_;
  gzFile in_ = nullptr;
  std::uint64_t size_ = 0;
  bool gzip_ = false;
};

std::uint32_t big_endian(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
         (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

std::vector<std::int64_t> read_header(Input& in, const std::string& file,
                                      int expected_rank) {
  std::uint8_t magic_bytes[4];
  const auto got = in.read(magic_bytes, 4);
  if (got < 4) {
    throw DataError(file + ": truncated (" + std::to_string(got) +
                    " bytes, no IDX header)");
  }
  // Magic: two zero bytes, the element type (0x08 = unsigned byte), rank.
  if (magic_bytes[0] != 0 || magic_bytes[1] != 0 || magic_bytes[2] != 0x08 ||
      magic_bytes[3] != expected_rank) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "0x%08x", big_endian(magic_bytes));
    char wanted[16];
    std::snprintf(wanted, sizeof wanted, "0x%08x", 0x800u + expected_rank);
    throw DataError(file + ": wrong magic number " + magic + " (expected " +
                    wanted + ": unsigned bytes, " +
                    std::to_string(expected_rank) + " dimensions)");
  }
  std::vector<std::uint8_t> bytes(4 * static_cast<std::size_t>(expected_rank));
  if (in.read(bytes.data(), bytes.size()) < bytes.size()) {
    throw DataError(file + ": truncated header");
  }
  std::vector<std::int64_t> dims;
  for (int i = 0; i < expected_rank; ++i) {
    dims.push_back(big_endian(bytes.data() + 4 * i));
  }
  return dims;
}

}  // namespace

std::vector<std::int64_t> read_dims(const std::string& file,
                                    int expected_rank) {
  Input in(file);
  return read_header(in, file, expected_rank);
}

Array read(const std::string& file, int expected_rank, std::int64_t limit) {
  Input in(file);
  Array array;
  array.dims = read_header(in, file, expected_rank);
  // Each dimension is below 2^32, so only the products can overflow.
  std::uint64_t item = 1;
  for (int i = 1; i < expected_rank; ++i) {
    if (__builtin_mul_overflow(item, static_cast<std::uint64_t>(array.dims[i]),
                               &item)) {
      throw DataError(file + ": the header announces impossibly large items");
    }
  }
  const auto count = static_cast<std::uint64_t>(array.dims[0]);
  std::uint64_t total = 0;
  if (__builtin_mul_overflow(count, item, &total) ||
      total > static_cast<std::uint64_t>(
                  std::numeric_limits<std::int64_t>::max())) {
    throw DataError(file + ": the header announces more than 2^63 bytes");
  }
  const std::uint64_t keep =
      limit > 0 ? std::min(count, static_cast<std::uint64_t>(limit)) : count;
  const std::uint64_t keep_bytes = keep * item;
  const std::uint64_t header =
      4 + 4 * static_cast<std::uint64_t>(expected_rank);

  if (!in.gzip()) {
    // A plain file's size says everything before a byte is allocated.
    const std::uint64_t present =
        in.file_size() > header ? in.file_size() - header : 0;
    if (present != total) {
      throw DataError(file + ": " + std::to_string(present) +
                      " data bytes, but the header announces " +
                      std::to_string(total) +
                      (present < total ? " (truncated)" : " (trailing bytes)"));
    }
    array.data.resize(keep_bytes);
    if (in.read(array.data.data(), keep_bytes) < keep_bytes) {
      throw DataError(file + ": truncated while being read (did it change?)");
    }
    return array;
  }

  if (total / kMaxGzipRatio > in.file_size()) {
    throw DataError(file + ": truncated: a gzip file of " +
                    std::to_string(in.file_size()) + " bytes cannot hold the " +
                    std::to_string(total) + " data bytes its header announces");
  }
  if (keep == count) {
    // Everything is kept: a first pass through a small buffer checks the
    // stream's length (stopping one byte past the announced end), so a
    // short or long stream costs no memory and the data's buffer is
    // allocated once, exactly, only for a stream that holds it.
    std::vector<std::uint8_t> scratch(1 << 20);
    std::uint64_t seen = 0;
    for (;;) {
      const auto got =
          in.read(scratch.data(),
                  std::min<std::uint64_t>(scratch.size(), total + 1 - seen));
      if (got == 0) break;
      seen += got;
      if (seen > total) {
        throw DataError(file + ": more than the " + std::to_string(total) +
                        " data bytes the header announces (trailing bytes)");
      }
    }
    if (seen < total) {
      throw DataError(file + ": " + std::to_string(seen) +
                      " data bytes, but the header announces " +
                      std::to_string(total) + " (truncated)");
    }
    in.rewind();
    read_header(in, file, expected_rank);
    array.data.resize(keep_bytes);
    if (in.read(array.data.data(), keep_bytes) < keep_bytes) {
      throw DataError(file + ": truncated while being read (did it change?)");
    }
    return array;
  }
  // The first `keep` items only; the rest of the stream is not read. The
  // buffer grows as data actually arrives, so a limit larger than what
  // the stream holds allocates no more than the stream gives.
  std::uint64_t have = 0;
  while (have < keep_bytes) {
    if (array.data.size() == have) {
      array.data.resize(std::min(keep_bytes, std::max(2 * have, kFirstChunk)));
    }
    const auto got =
        in.read(array.data.data() + have, array.data.size() - have);
    if (got == 0) {
      throw DataError(file + ": " + std::to_string(have) +
                      " data bytes, but the header announces " +
                      std::to_string(total) + " (truncated)");
    }
    have += got;
  }
  return array;
}

}  // namespace cigl::idx
