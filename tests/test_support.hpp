#pragma once
// Helpers shared by the tests: paths of the build, temporary folders, and
// a registry loaded with the bundled plugins.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cigl/core/registry.hpp"

namespace cigl::test {

inline std::string fixture_dir(const std::string& name) {
  return std::string(CIGL_TEST_FIXTURE_DIR) + "/" + name;
}

/// A fresh folder under the system temp dir, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("cigl-test-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

/// Runs the built cigl-run with `args` (and `env` assignments in front),
/// as a user would from a shell.
inline CommandResult run_cigl(const std::string& args,
                              const std::string& env = "") {
  const std::string command =
      env + " " CIGL_TEST_RUN_BINARY " " + args + " 2>&1";
  CommandResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    r.output.append(buffer, n);
  }
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// Waits (up to a minute) until process `pid` is suspended: started with
/// CIGL_TEST_KILL_AT=<point> CIGL_TEST_KILL_SIGNAL=19, a run stops itself
/// there, so a test acts on it at a known point however fast the machine.
inline bool wait_until_suspended(long long pid) {
  const std::string stat = "/proc/" + std::to_string(pid) + "/stat";
  for (int i = 0; i < 6000; ++i) {
    const std::string text = read_file(stat);
    const auto close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() &&
        text[close + 2] == 'T') {
      return true;
    }
    usleep(10000);
  }
  return false;
}

/// The registry every test of bundled plugins starts from.
inline Registry& bundled_registry() {
  static Registry* registry = [] {
    auto* r = new Registry();  // lives to exit, as cigl-run's does
    auto errors = r->load_directories({CIGL_TEST_PLUGIN_DIR});
    if (!errors.empty()) throw std::runtime_error(errors.front());
    return r;
  }();
  return *registry;
}

}  // namespace cigl::test
