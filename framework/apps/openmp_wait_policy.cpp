// Linked into cigl-run and the test executables. LibTorch's OpenMP threads
// spin while they wait for each other (libgomp's default): on a machine
// shared with other work, a spinning thread burns the core its partner
// needs, and the quick start with 2 threads trained 25 times slower than
// with 1. With OMP_WAIT_POLICY=PASSIVE they sleep instead, and 2 threads
// train twice as fast as 1 (docs/benchmarks.md). libgomp reads the
// variable once, in its own constructor, before main(); an executable's
// .preinit_array runs before any shared library's constructor, so this is
// the last moment to set it. A value the user set is kept.
#include <cstdlib>

namespace {

void passive_openmp_wait(int, char**, char**) {
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
}

__attribute__((section(".preinit_array"), used)) void (*const set_wait_policy)(
    int, char**, char**) = &passive_openmp_wait;

}  // namespace
