#pragma once
// IDX files (the MNIST family's format), gzip-compressed or plain.
#include <cstdint>
#include <string>
#include <vector>

namespace cigl::idx {

struct Array {
  std::vector<std::int64_t> dims;  ///< as the header announces them
  std::vector<std::uint8_t> data;  ///< row-major, unsigned bytes
};

/// The dimensions an IDX file of unsigned bytes with `expected_rank`
/// dimensions announces, from its header alone.
std::vector<std::int64_t> read_dims(const std::string& file, int expected_rank);

/// Reads an IDX file of unsigned bytes with `expected_rank` dimensions,
/// keeping only its first `limit` items (along the first dimension; 0:
/// all). Memory follows what is kept, never what the header announces: a
/// plain file's size is checked against the header before anything is
/// allocated; a gzip stream kept whole is first read through a small
/// buffer, stopping as soon as it is longer than announced, and read again
/// into one exact allocation only if its length is right (decompressing
/// twice costs ~0.1 s for Fashion-MNIST's training images). With a limit,
/// only the kept items are decompressed, into a buffer that grows as they
/// arrive; the rest of the stream is not read.
/// Throws DataError naming the file on a missing, non-regular,
/// unreadable, truncated, oversized or wrong-magic file.
Array read(const std::string& file, int expected_rank, std::int64_t limit = 0);

}  // namespace cigl::idx
