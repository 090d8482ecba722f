#include "cigl/core/launch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "cigl/core/signals.hpp"
#include "cigl/error.hpp"

extern char** environ;

namespace cigl {

namespace {

constexpr const char* kLauncherVariable = "CIGL_LAUNCHER_PID";

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

/// The launcher's environment with the rank's variables set over it.
std::vector<std::string> rank_environment_block(
    const std::map<std::string, std::string>& set) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    // torchrun's agent store is not ours.
    if (set.count(name) || name == "TORCHELASTIC_USE_AGENT_STORE") continue;
    out.push_back(entry);
  }
  for (const auto& [name, value] : set) out.push_back(name + "=" + value);
  return out;
}

}  // namespace

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;  // the kernel picks
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw Error("cannot find a free port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

void follow_launcher() {
  const char* launcher = std::getenv(kLauncherVariable);
  if (!launcher) return;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The launcher may have died before the line above.
  if (std::to_string(::getppid()) != launcher) std::_Exit(1);
}

int launch_local_ranks(const LaunchOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  const int port = free_local_port();
  const bool set_threads =
      options.threads_per_rank > 0 && !std::getenv("OMP_NUM_THREADS");
  std::map<pid_t, int> running;  // pid -> rank
  pid_t group = 0;
  auto kill_all = [&](int signal) {
    for (const auto& [pid, rank] : running) ::kill(pid, signal);
  };
  for (int rank = 0; rank < options.nproc; ++rank) {
    std::map<std::string, std::string> set = {
        {"RANK", std::to_string(rank)},
        {"LOCAL_RANK", std::to_string(rank)},
        {"WORLD_SIZE", std::to_string(options.nproc)},
        {"LOCAL_WORLD_SIZE", std::to_string(options.nproc)},
        {"MASTER_ADDR", "127.0.0.1"},
        {"MASTER_PORT", std::to_string(port)},
        {kLauncherVariable, std::to_string(::getpid())}};
    if (set_threads) {
      set["OMP_NUM_THREADS"] = std::to_string(options.threads_per_rank);
    }
    auto environment = rank_environment_block(set);
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {options.executable};
    args.insert(args.end(), options.args.begin(), options.args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // One process group for the ranks: a Ctrl-C on the terminal reaches
    // the launcher alone, which passes it on to each rank exactly once.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, group);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, options.executable.c_str(), nullptr,
                               &attributes, argv.data(), envp.data());
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
      kill_all(SIGKILL);
      for (const auto& [p, r] : running) ::waitpid(p, nullptr, 0);
      throw Error("cannot start rank " + std::to_string(rank) + " (" +
                  options.executable + "): " + std::strerror(rc));
    }
    if (group == 0) group = pid;
    running[pid] = rank;
  }

  using Clock = std::chrono::steady_clock;
  int forwarded = 0;           // the stop signal passed on
  std::optional<int> failure;  // exit code of the first rank that failed
  std::optional<Clock::time_point> killing_since;
  bool killed = false;
  int stopped_code = 0;  // 128 + N of ranks that stopped on a signal
  while (!running.empty()) {
    if (const int signal = stop_signal(); signal && !forwarded) {
      forwarded = signal;
      kill_all(signal);
    }
    if (killing_since && !killed &&
        std::chrono::duration<double>(Clock::now() - *killing_since).count() >
            options.grace_seconds) {
      log << "cigl-run: " << running.size() << " rank(s) still running "
          << options.grace_seconds << " s after the failure; killing them"
          << std::endl;
      kill_all(SIGKILL);
      killed = true;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("waitpid: ") + std::strerror(errno));
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const int rank = it->second;
    running.erase(it);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // Stopped on a signal with a checkpoint: the ranks agree on the step,
    // so the others are stopping too.
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    const bool stopped =
        code == 128 + SIGTERM || code == 128 + SIGINT || code == 128 + SIGUSR1;
    if (ok) continue;
    if (stopped) {
      stopped_code = code;
      continue;
    }
    if (failure) continue;  // the others going down after the first
    failure = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (!running.empty()) {
      log << "cigl-run: rank " << rank << " " << exit_text(status)
          << "; stopping the other " << running.size() << " rank(s)"
          << std::endl;
      kill_all(SIGTERM);
      killing_since = Clock::now();
    } else if (WIFSIGNALED(status)) {
      log << "cigl-run: rank " << rank << " " << exit_text(status) << std::endl;
    }
  }
  if (failure) return *failure;
  return stopped_code;
}

}  // namespace cigl
