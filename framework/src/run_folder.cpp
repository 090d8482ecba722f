#include "cigl/core/run_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cigl/core/files.hpp"
#include "cigl/core/provenance.hpp"
#include "cigl/core/results_index.hpp"
#include "cigl/error.hpp"
#include "json_text.hpp"

namespace fs = std::filesystem;

namespace cigl {

namespace {

constexpr const char* kLockFile = "run.lock";
constexpr const char* kStatusFile = "status.json";

// Every file cigl-run writes into a run folder.
constexpr const char* kOutputs[] = {
    "config.toml",     "history.csv",     "metrics.json",
    "predictions.csv", "reliability.svg", "history.svg",
    "model.pt",        "checkpoint.pt",   kStatusFile};

std::optional<RunState> state_from(const std::string& name) {
  for (RunState s : {RunState::running, RunState::done, RunState::failed,
                     RunState::interrupted}) {
    if (name == run_state_name(s)) return s;
  }
  return std::nullopt;
}

std::optional<RunStatus> parse_status(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  const auto json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  auto state = state_from(json.value("state", ""));
  if (!state) return std::nullopt;
  RunStatus s;
  s.state = *state;
  s.epoch = json.value("epoch", std::int64_t{0});
  s.epochs = json.value("epochs", std::int64_t{0});
  s.step = json.value("step", std::int64_t{0});
  s.reason = json.value("reason", "");
  s.checkpoint = json.value("checkpoint", false);
  s.pid = json.value("pid", std::int64_t{0});
  s.host = json.value("host", "");
  s.updated_at = json.value("updated_at", "");
  return s;
}

}  // namespace

const char* run_state_name(RunState state) {
  switch (state) {
    case RunState::running: return "running";
    case RunState::done: return "done";
    case RunState::failed: return "failed";
    case RunState::interrupted: return "interrupted";
  }
  return "unknown";
}

bool is_run_output(const std::string& name) {
  for (const char* output : kOutputs) {
    if (name == output) return true;
  }
  // Temporary files of write_file_atomic: ".<name>.tmp.<pid>".
  return name.size() > 1 && name[0] == '.' &&
         name.find(".tmp.") != std::string::npos;
}

bool RunFolderContents::finished() const {
  if (status) return status->state == RunState::done;
  return has_metrics;
}

RunFolderContents read_run_folder(const std::string& dir) {
  RunFolderContents c;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kLockFile || name == "log.txt") continue;
    c.empty = false;
    if (name == kStatusFile) c.status = parse_status(entry.path().string());
    if (name == kStatusFile || name == "config.toml") c.is_run = true;
    if (name == "config.toml") c.has_config = true;
    if (name == "metrics.json") c.has_metrics = true;
    if (name == "checkpoint.pt") c.has_checkpoint = true;
  }
  return c;
}

RunFolder::RunFolder(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    throw ConfigError("cannot create run folder " + dir_ + ": " + ec.message());
  }
  const std::string lock = file(kLockFile);
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    throw ConfigError("cannot lock run folder " + dir_ + ": " +
                      std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::ifstream in(lock);
    std::string owner((std::istreambuf_iterator<char>(in)), {});
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) {
      owner.pop_back();
    }
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (error == EWOULDBLOCK) {
      throw ConfigError("run folder " + dir_ + " is in use by " +
                        (owner.empty() ? std::string("another process")
                                       : "process " + owner) +
                        "; wait for it to finish or choose another --output");
    }
    throw ConfigError("cannot lock run folder " + dir_ + ": " +
                      std::strerror(error));
  }
  // Who holds it, for the message a second process prints.
  const std::string owner =
      std::to_string(::getpid()) + " on " + host_name() + "\n";
  if (::ftruncate(lock_fd_, 0) == 0) {
    (void)!::write(lock_fd_, owner.data(), owner.size());
  }
  contents_ = read_run_folder(dir_);
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

std::string RunFolder::file(const std::string& name) const {
  return (fs::path(dir_) / name).string();
}

void RunFolder::clear_outputs() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kLockFile || !is_run_output(name)) continue;
    std::error_code remove_error;
    fs::remove(entry.path(), remove_error);
    if (remove_error) {
      throw Error("cannot remove " + entry.path().string() + ": " +
                  remove_error.message());
    }
  }
  sync_directory(dir_);
  contents_ = read_run_folder(dir_);
}

void RunFolder::write_status(RunStatus status) {
  status.pid = ::getpid();
  status.host = host_name();
  status.updated_at = iso_now();
  nlohmann::ordered_json json = {{"state", run_state_name(status.state)},
                                 {"epoch", status.epoch},
                                 {"epochs", status.epochs},
                                 {"step", status.step},
                                 {"checkpoint", status.checkpoint},
                                 {"pid", status.pid},
                                 {"host", status.host},
                                 {"updated_at", status.updated_at},
                                 {"cigl_version", cigl_version()}};
  if (!status.reason.empty()) json["reason"] = status.reason;
  write_file_atomic(file(kStatusFile), json_text(json));
}

}  // namespace cigl
