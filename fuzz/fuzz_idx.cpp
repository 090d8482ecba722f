// Fuzz target: bytes -> the IDX reader (plain or gzip) -> an array whose
// size matches its header, or a DataError. Anything else (a crash, another
// exception, a buffer of the wrong size) is a finding.
#include <cstdint>
#include <cstdlib>

#include "cigl/error.hpp"
#include "idx.hpp"
#include "memory_file.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static cigl::fuzz::MemoryFile file;
  const std::string path = file.hold(data, size);
  // Labels (rank 1) and images (rank 3), everything and the first two.
  for (int rank : {1, 3}) {
    for (std::int64_t limit : {0, 2}) {
      try {
        const auto array = cigl::idx::read(path, rank, limit);
        if (array.dims.size() != static_cast<std::size_t>(rank)) std::abort();
        std::uint64_t expected = 1;
        for (int i = 1; i < rank; ++i) expected *= array.dims[i];
        const auto items = static_cast<std::uint64_t>(array.dims[0]);
        expected *= limit > 0 && items > static_cast<std::uint64_t>(limit)
                        ? static_cast<std::uint64_t>(limit)
                        : items;
        if (array.data.size() != expected) std::abort();
      } catch (const cigl::DataError&) {
      }
    }
  }
  return 0;
}
