#pragma once
// IDX files (the MNIST family's format), gzip-compressed or plain.
#include <cstdint>
#include <string>
#include <vector>

namespace cigl::idx {

struct Array {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;  ///< row-major, unsigned bytes
};

/// Reads an IDX file of unsigned bytes with `expected_rank` dimensions.
/// Throws DataError naming the file on a missing, truncated, oversized or
/// wrong-magic file.
Array read(const std::string& file, int expected_rank);

}  // namespace cigl::idx
