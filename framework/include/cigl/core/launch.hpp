#pragma once
// `cigl-run --nproc N`: starts N ranks of a data-parallel run on this
// machine, each a process of its own with the environment torchrun would
// give it, and watches them: a stop signal is passed on to every rank
// once, and a rank that fails takes the others down with it.
#include <iosfwd>
#include <string>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

struct LaunchOptions {
  std::string executable;         ///< what each rank runs (cigl-run)
  std::vector<std::string> args;  ///< its arguments (without --nproc)
  int nproc = 2;
  /// OMP_NUM_THREADS for each rank when the environment sets none and
  /// this is above 0 (the cores shared out between the ranks).
  int threads_per_rank = 0;
  /// After a rank fails, how long the others get to notice and end by
  /// themselves (they do at their next collective) before SIGKILL.
  double grace_seconds = 10;
  std::ostream* log = nullptr;  ///< the launcher's own lines; nullptr: cerr
};

/// Starts the ranks (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
/// MASTER_ADDR=127.0.0.1, MASTER_PORT a free port) in a process group of
/// their own, and waits for all of them. Returns 0 when all succeed; when
/// they all stopped on a signal, 128 + that signal; otherwise the exit
/// code of the first rank that failed (1 when it was killed), after the
/// others were stopped: SIGTERM at once, SIGKILL after `grace_seconds`.
CIGL_API int launch_local_ranks(const LaunchOptions& options);

/// A TCP port on 127.0.0.1 free at the time of the call.
CIGL_API int free_local_port();

/// In a rank that launch_local_ranks started: dies with its launcher
/// (a launcher killed with -9 leaves no rank behind). Call first thing.
CIGL_API void follow_launcher();

}  // namespace cigl
