#include "idx.hpp"

#include <zlib.h>

#include <memory>

#include "cigl/error.hpp"

namespace cigl::idx {

namespace {

std::vector<std::uint8_t> read_all(const std::string& file) {
  // gzread reads plain files as they are, so one path serves both forms.
  gzFile in = gzopen(file.c_str(), "rb");
  if (!in) throw DataError(file + ": cannot open");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(in, gzclose);
  std::vector<std::uint8_t> bytes;
  std::uint8_t buffer[1 << 16];
  for (;;) {
    int n = gzread(in, buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(in, &code);
      throw DataError(file + ": corrupt gzip stream (" + message + ")");
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  return bytes;
}

std::uint32_t big_endian(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
         (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

}  // namespace

Array read(const std::string& file, int expected_rank) {
  std::vector<std::uint8_t> bytes = read_all(file);
  if (bytes.size() < 4) {
    throw DataError(file + ": truncated (" + std::to_string(bytes.size()) +
                    " bytes, no IDX header)");
  }
  // Magic: two zero bytes, the element type (0x08 = unsigned byte), rank.
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 ||
      bytes[3] != expected_rank) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "0x%08x", big_endian(bytes.data()));
    char wanted[16];
    std::snprintf(wanted, sizeof wanted, "0x%08x", 0x800u + expected_rank);
    throw DataError(file + ": wrong magic number " + magic + " (expected " +
                    wanted + ": unsigned bytes, " +
                    std::to_string(expected_rank) + " dimensions)");
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(expected_rank);
  if (bytes.size() < header) {
    throw DataError(file + ": truncated header");
  }
  Array array;
  std::size_t count = 1;
  for (int i = 0; i < expected_rank; ++i) {
    auto d = big_endian(bytes.data() + 4 + 4 * i);
    array.dims.push_back(d);
    count *= d;
  }
  if (bytes.size() != header + count) {
    throw DataError(
        file + ": " + std::to_string(bytes.size() - header) +
        " data bytes, but the header announces " + std::to_string(count) +
        (bytes.size() < header + count ? " (truncated)" : " (trailing bytes)"));
  }
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header),
                    bytes.end());
  return array;
}

}  // namespace cigl::idx
