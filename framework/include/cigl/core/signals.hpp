#pragma once
// Stopping a run cleanly on a signal: SIGTERM (Slurm, kill), SIGINT
// (Ctrl-C) and SIGUSR1 (Slurm's warning before the time limit) ask the
// run to stop at the next step boundary, where it writes a checkpoint and
// exits with 128 + the signal's number.
#include <string>

#include "cigl/export.hpp"

namespace cigl {

/// Installs the handlers. A second SIGINT ends the process at once (exit
/// 130). SIGXFSZ is ignored, so a file-size limit is a write error naming
/// the file rather than a crash.
CIGL_API void install_stop_handlers();

/// The signal that asked to stop, or 0.
CIGL_API int stop_signal();

/// Asks to stop as if `signal` had arrived (for tests and embedding).
CIGL_API void request_stop(int signal);

/// For tests of what survives a kill: where the environment variable
/// CIGL_TEST_KILL_AT names this point ("step:120" for where=step and
/// number=120, "validation:2", "test", "outputs"), the process sends
/// itself CIGL_TEST_KILL_SIGNAL (a number, default 9: SIGKILL); with
/// CIGL_TEST_KILL_RANK, only the rank of that number (RANK) does. Costs
/// one test of a flag when the variable is unset.
CIGL_API void kill_point(const char* where, long long number = -1);

/// "SIGTERM", "SIGINT", ... or "signal N".
CIGL_API std::string signal_name(int signal);

}  // namespace cigl
