// Linked into cigl-run, the benchmarks and the test executables: how
// LibTorch's OpenMP threads wait for work.
//
// libgomp's default is to spin about 300,000 times (milliseconds) before
// sleeping. On a small machine a spinning worker takes the core that
// OpenBLAS's own threads or the next parallel region need: on the 2-core
// development machine LeNet-300-100's dense epoch took 2.7-4.3 s on two
// threads against 0.9 s. Not spinning at all (OMP_WAIT_POLICY=PASSIVE)
// fixes the dense kernels but makes every parallel region pay a futex
// wake-up, which the short regions of the sparse kernels feel (0.62 s
// against 0.32 s). A short spin, GOMP_SPINCOUNT=CIGL_OPENMP_SPIN_COUNT,
// was the fastest for both (docs/benchmarks.md, "OpenMP threads").
//
// libgomp reads its variables once, in its own constructor. Nothing of
// ours runs before that and survives: an executable's .preinit_array runs
// earlier, but the C library's initialisation then puts back the
// environment the kernel passed, so a setenv there is lost (cigl did
// that until 2026-12-01, without effect). So an executable whose user set
// neither variable sets GOMP_SPINCOUNT and executes itself again, once,
// before main(). A variable the user set is kept, and the one set here
// stops a second re-execution.
#include <unistd.h>

#include <cstdlib>

#ifndef CIGL_OPENMP_SPIN_COUNT
#error "the build defines CIGL_OPENMP_SPIN_COUNT (framework/CMakeLists.txt)"
#endif

namespace {

void spin_briefly_in_openmp(int, char** argv, char**) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) {
    return;
  }
  if (setenv("GOMP_SPINCOUNT", CIGL_OPENMP_SPIN_COUNT, /*overwrite=*/0) != 0) {
    return;
  }
  // Only returns when it failed (no /proc): then the process goes on with
  // libgomp's default, slower on small machines but correct.
  execv("/proc/self/exe", argv);
}

// An executable's .init_array runs after every shared library's
// constructors, libgomp's included, and before main().
__attribute__((section(".init_array"), used)) void (*const set_spin_count)(
    int, char**, char**) = &spin_briefly_in_openmp;

}  // namespace
