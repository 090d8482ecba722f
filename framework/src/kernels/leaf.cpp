// Run-time choice between the builds of the inner loops (leaf.hpp).
#include "leaf.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cigl/core/sparse_ops.hpp"

namespace cigl::kernels {

namespace {
std::atomic<const Leaf*>& current() {
  static std::atomic<const Leaf*> chosen{[]() -> const Leaf* {
    const char* wanted = std::getenv("CIGL_KERNELS_ISA");
    if (wanted && std::strcmp(wanted, "portable") == 0) return &portable_leaf();
    const Leaf* avx2 = avx2_leaf();
    return avx2 ? avx2 : &portable_leaf();
  }()};
  return chosen;
}
}  // namespace

const Leaf& leaf() { return *current().load(std::memory_order_relaxed); }

const char* instruction_set() { return leaf().isa; }

bool use_instruction_set(const std::string& isa) {
  const Leaf* wanted = isa == "portable" ? &portable_leaf()
                       : isa == "avx2"   ? avx2_leaf()
                                         : nullptr;
  if (!wanted) return false;
  current().store(wanted);
  return true;
}

}  // namespace cigl::kernels
