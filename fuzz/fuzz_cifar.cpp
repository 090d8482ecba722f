// Fuzz target: bytes -> the CIFAR binary reader (CIFAR-10 records, and
// CIFAR-100's two label bytes) -> a split of consistent shape with labels
// in range, or a DataError.
#include <cstdint>
#include <cstdlib>

#include <torch/torch.h>

#include "cifar_binary.hpp"
#include "cigl/error.hpp"
#include "memory_file.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // one input at a time; no thread pool noise
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static cigl::fuzz::MemoryFile file;
  const std::string path = file.hold(data, size);
  using cigl::cifar::kCifar10;
  using cigl::cifar::kCifar100;
  for (const auto* release : {&kCifar10, &kCifar100}) {
    for (std::int64_t limit : {0, 1}) {
      const std::int64_t label_byte = release == &kCifar100 ? 1 : 0;
      try {
        const auto split = cigl::cifar::read_split(*release, {path}, label_byte,
                                                   limit, limit == 0);
        const auto n = split.labels.size(0);
        if (split.inputs.sizes() != torch::IntArrayRef({n, 3, 32, 32})) {
          std::abort();
        }
        if (n > 0 && (split.labels.min().item<std::int64_t>() < 0 ||
                      split.labels.max().item<std::int64_t>() >=
                          release->label_classes[label_byte])) {
          std::abort();
        }
      } catch (const cigl::DataError&) {
      }
    }
  }
  return 0;
}
