#include "cigl/core/signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>

namespace cigl {

namespace {

std::atomic<int> requested{0};
static_assert(std::atomic<int>::is_always_lock_free,
              "the handler may only touch a lock-free atomic");

extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  if (!requested.compare_exchange_strong(expected, signal) &&
      signal == SIGINT) {
    _exit(128 + SIGINT);  // Ctrl-C twice: the user wants out now
  }
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGTERM, SIGINT, SIGUSR1}) {
    sigaction(signal, &action, nullptr);
  }
  std::signal(SIGXFSZ, SIG_IGN);
}

int stop_signal() { return requested.load(); }

void kill_point(const char* where, long long number) {
  static const char* const wanted = std::getenv("CIGL_TEST_KILL_AT");
  if (!wanted) return;
  // In a data-parallel run, only the rank CIGL_TEST_KILL_RANK names.
  const char* only = std::getenv("CIGL_TEST_KILL_RANK");
  const char* rank = std::getenv("RANK");
  if (only && std::string(only) != (rank ? rank : "0")) return;
  std::string point = where;
  if (number >= 0) point += ":" + std::to_string(number);
  if (point != wanted) return;
  const char* signal = std::getenv("CIGL_TEST_KILL_SIGNAL");
  ::kill(::getpid(), signal ? std::atoi(signal) : SIGKILL);
}

void request_stop(int signal) { requested.store(signal); }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGKILL: return "SIGKILL";
    default: return "signal " + std::to_string(signal);
  }
}

}  // namespace cigl
