#pragma once
// A run folder belongs to one process and one run. The owner holds an
// advisory lock (flock on <folder>/run.lock) for as long as it runs, so a
// second cigl-run into the same folder fails at once; status.json says
// what the folder is (running, done, failed, interrupted).
#include <cstdint>
#include <optional>
#include <string>

#include "cigl/export.hpp"

namespace cigl {

enum class RunState { running, done, failed, interrupted };
CIGL_API const char* run_state_name(RunState state);

/// status.json.
struct RunStatus {
  RunState state = RunState::running;
  std::int64_t epoch = 0;   ///< epochs completed
  std::int64_t epochs = 0;  ///< epochs configured
  std::int64_t step = 0;
  std::string reason;       ///< failed: the error; interrupted: the signal
  bool checkpoint = false;  ///< checkpoint.pt can continue the run
  std::int64_t pid = 0;     ///< the process that wrote it
  std::string host;
  std::string updated_at;
};

/// What a folder holds, read without taking its lock (cigl-report uses it).
struct CIGL_API RunFolderContents {
  bool empty = true;                ///< nothing but what cigl-run creates first
  bool is_run = false;              ///< it has a status.json or a config.toml
  std::optional<RunStatus> status;  ///< from status.json, if readable
  bool has_config = false, has_metrics = false, has_checkpoint = false;
  /// done, or an older run folder (no status.json) with metrics.json
  bool finished() const;
};
CIGL_API RunFolderContents read_run_folder(const std::string& dir);

/// The files of `dir` that cigl-run writes; --overwrite removes these.
CIGL_API bool is_run_output(const std::string& file_name);

class CIGL_API RunFolder {
 public:
  /// Creates `dir` if needed and locks it for this process. Throws
  /// ConfigError naming the folder and the owner's pid if another process
  /// holds it.
  explicit RunFolder(std::string dir);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::string& dir() const { return dir_; }
  std::string file(const std::string& name) const;
  /// As found once locked.
  const RunFolderContents& contents() const { return contents_; }
  /// Removes every file a run writes (outputs, status, checkpoint), and
  /// nothing else.
  void clear_outputs();
  /// Writes status.json atomically (pid, host and time filled in).
  void write_status(RunStatus status);

 private:
  std::string dir_;
  int lock_fd_ = -1;
  RunFolderContents contents_;
};

}  // namespace cigl
