#pragma once
// The results index of a matrix: <root>/results.sqlite, one row per cell
// with its overrides, status, metrics and timings. Every status change is
// its own short transaction, so cells running in parallel processes (or
// Slurm tasks) write to it at once; the index makes a matrix resumable.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

/// pending: never started; running: a process works on it (or died while
/// it did); done: finished with metrics; failed: the run raised an error,
/// exited non-zero or was killed.
enum class CellStatus { pending, running, done, failed };
CIGL_API const char* status_name(CellStatus status);

struct CIGL_API CellRecord {
  std::int64_t index = 0;
  std::string name;
  std::string overrides;    ///< JSON object: key path -> value
  std::string fingerprint;  ///< of the resolved config it ran (or runs)
  CellStatus status = CellStatus::pending;
  std::int64_t attempts = 0;
  /// Test metrics, final density, steps and training seconds, as stored
  /// in the `metrics` JSON column (non-finite values left out).
  std::vector<std::pair<std::string, double>> metrics;
  std::string started_at, finished_at;  ///< ISO 8601 UTC, "" if not yet
  std::optional<double> seconds;        ///< wall time of the cell's process
  double heartbeat = 0;                 ///< unix time of the last sign of life
  std::string run_dir, error, host;
  std::int64_t pid = 0;
  const double* metric(const std::string& name) const;
};

/// A cell as the config defines it (what sync() writes).
struct CellIdentity {
  std::int64_t index = 0;
  std::string name, overrides, fingerprint;
};

class CIGL_API ResultsIndex {
 public:
  enum class Journal {
    keep,     ///< a new file gets WAL; an existing one keeps its mode
    rollback  ///< switch to DELETE (rollback journal): for network
              ///< filesystems, where WAL's shared memory cannot work
  };
  /// Opens or creates the index (and its table); a busy database is waited
  /// for (busy timeout), never reported as "database is locked" at once.
  explicit ResultsIndex(const std::string& path,
                        Journal journal = Journal::keep);
  ~ResultsIndex();
  ResultsIndex(const ResultsIndex&) = delete;
  ResultsIndex& operator=(const ResultsIndex&) = delete;

  const std::string& path() const { return path_; }

  /// Adds a pending row for every cell the index does not have yet; rows
  /// already there are left alone (their fingerprint says if stale). Rows
  /// follow their cell's overrides to its current index, so adding values
  /// to a matrix does not re-run the cells already done; rows of cells no
  /// longer in the matrix are kept out of view.
  void add_missing(const std::vector<CellIdentity>& cells);

  std::vector<CellRecord> all() const;
  std::optional<CellRecord> get(std::int64_t index) const;

  /// Takes the cell for `pid` on `host` unless it is done for this
  /// fingerprint or running in a live process: sets it running, counts an
  /// attempt, clears the previous result. Returns false if not taken.
  bool claim(const CellIdentity& cell, std::int64_t pid,
             const std::string& host);
  /// Sets running for `pid` (the process that really runs the cell),
  /// unconditionally, creating the row if needed. Counts an attempt when
  /// `new_attempt`.
  void start(const CellIdentity& cell, std::int64_t pid,
             const std::string& host, bool new_attempt);
  void heartbeat(std::int64_t index);
  void finish(std::int64_t index,
              const std::vector<std::pair<std::string, double>>& metrics,
              const std::string& run_dir, double seconds);
  void fail(std::int64_t index, const std::string& error, double seconds);
  /// fail(), but only while the row is still running for `pid`: a parent
  /// records a child that died without a word.
  bool fail_if_running(std::int64_t index, std::int64_t pid,
                       const std::string& error, double seconds);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

/// Seconds without a heartbeat after which a running cell on another host
/// counts as dead.
constexpr double kStaleSeconds = 600;

/// Whether a row marked running still has a live process: on this host, its
/// pid exists (and the heartbeat is not stale); elsewhere, its heartbeat is
/// younger than kStaleSeconds.
CIGL_API bool running_alive(const CellRecord& record, const std::string& host,
                            double now);

/// What a run does with the row: done for the same fingerprint is skipped,
/// running in a live process is left alone, anything else runs.
CIGL_API bool needs_run(const CellRecord& record,
                        const std::string& fingerprint, const std::string& host,
                        double now);

/// Whether process `pid` on this host is running (a zombie is not).
CIGL_API bool process_alive(std::int64_t pid);
CIGL_API std::string host_name();
CIGL_API double unix_now();
/// UTC now as 2026-01-31T12:00:00Z.
CIGL_API std::string iso_now();

}  // namespace cigl
