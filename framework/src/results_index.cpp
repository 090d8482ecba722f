#include "cigl/core/results_index.hpp"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>

#include "cigl/error.hpp"
#include "json_text.hpp"

namespace cigl {

const char* status_name(CellStatus status) {
  switch (status) {
    case CellStatus::pending: return "pending";
    case CellStatus::running: return "running";
    case CellStatus::done: return "done";
    case CellStatus::failed: return "failed";
  }
  return "?";
}

namespace {

CellStatus status_from(const std::string& s) {
  if (s == "running") return CellStatus::running;
  if (s == "done") return CellStatus::done;
  if (s == "failed") return CellStatus::failed;
  return CellStatus::pending;
}

// The columns a user is most likely to query directly; every metric is in
// the `metrics` JSON column as well.
const char* const kMetricColumns[] = {"accuracy", "ece", "nll", "brier",
                                      "density"};

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS cells (
  idx          INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  overrides    TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'running', 'done', 'failed')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  accuracy     REAL,
  ece          REAL,
  nll          REAL,
  brier        REAL,
  density      REAL,
  metrics      TEXT,
  started_at   TEXT,
  finished_at  TEXT,
  seconds      REAL,
  heartbeat    REAL,
  run_dir      TEXT,
  error        TEXT,
  host         TEXT,
  pid          INTEGER
);
)sql";

}  // namespace

const double* CellRecord::metric(const std::string& name) const {
  for (const auto& [k, v] : metrics) {
    if (k == name) return &v;
  }
  return nullptr;
}

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw Error(path + ": " + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    if (std::isfinite(v)) {
      sqlite3_bind_double(stmt_, i, v);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
    return *this;
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  /// SQLITE_ROW or SQLITE_DONE; anything else is returned for the caller's
  /// retry logic (busy) or thrown.
  int step() { return sqlite3_step(stmt_); }
  std::string text(int i) const {
    auto* p = sqlite3_column_text(stmt_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::optional<double> real(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(stmt_, i);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

struct ResultsIndex::Impl {
  sqlite3* db = nullptr;
  std::string path;

  struct Busy {};  // unwinds a transaction to be retried

  void check(int rc, const char* what) const {
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) throw Busy{};
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      throw Error(path + ": " + what + ": " + sqlite3_errmsg(db));
    }
  }
  void exec(const char* sql) const {
    char* message = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
    std::string text = message ? message : "";
    sqlite3_free(message);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) throw Busy{};
    if (rc != SQLITE_OK) throw Error(path + ": " + text);
  }
  void run(Statement& s) const { check(s.step(), "write"); }

  /// A pending row for `cell` unless it has one already.
  void insert_if_missing(const CellIdentity& cell) const {
    Statement insert(db,
                     "INSERT OR IGNORE INTO cells (idx, name, overrides, "
                     "fingerprint) VALUES (?, ?, ?, ?)",
                     path);
    insert.bind(1, cell.index)
        .bind(2, cell.name)
        .bind(3, cell.overrides)
        .bind(4, cell.fingerprint);
    run(insert);
  }

  /// Runs `body` in one BEGIN IMMEDIATE transaction (the write lock taken
  /// up front, so two writers never deadlock on a lock upgrade), retrying
  /// the whole transaction when the database stays busy past the timeout.
  template <typename F>
  auto write(F&& body) const {
    for (int attempt = 0;; ++attempt) {
      try {
        exec("BEGIN IMMEDIATE");
        try {
          if constexpr (std::is_void_v<decltype(body())>) {
            body();
            exec("COMMIT");
            return;
          } else {
            auto result = body();
            exec("COMMIT");
            return result;
          }
        } catch (...) {
          sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
          throw;
        }
      } catch (const Busy&) {
        if (attempt >= 20) {
          throw Error(path +
                      ": the results index stayed locked; is its "
                      "filesystem's locking working?");
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(50 + 50 * attempt));
      }
    }
  }
};

ResultsIndex::ResultsIndex(const std::string& path, Journal journal)
    : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->path = path;
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  if (sqlite3_open_v2(
          path.c_str(), &impl_->db,
          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
          nullptr) != SQLITE_OK) {
    std::string message =
        impl_->db ? sqlite3_errmsg(impl_->db) : "out of memory";
    sqlite3_close(impl_->db);
    throw Error(path + ": cannot open the results index: " + message);
  }
  // Writers wait for each other instead of failing with "database is
  // locked"; the retry loop in write() covers the rest.
  sqlite3_busy_timeout(impl_->db, 10000);
  try {
    const char* mode = nullptr;
    // Inside a Slurm job a new index may be shared by tasks on several
    // nodes: never WAL there, even if it was deleted since --emit-slurm.
    if (journal == Journal::rollback ||
        (!existed && std::getenv("SLURM_JOB_ID") != nullptr)) {
      mode = "PRAGMA journal_mode=DELETE";
    } else if (!existed) {
      mode = "PRAGMA journal_mode=WAL";
    }
    for (int attempt = 0; mode; ++attempt) {
      try {
        impl_->exec(mode);
        break;
      } catch (const Impl::Busy&) {
        if (attempt >= 50) throw Error(path + ": cannot set the journal mode");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    impl_->exec("PRAGMA synchronous=NORMAL");
    impl_->write([&] { impl_->exec(kSchema); });
  } catch (const Impl::Busy&) {
    sqlite3_close(impl_->db);
    throw Error(path + ": the results index stayed locked");
  } catch (...) {
    sqlite3_close(impl_->db);
    throw;
  }
}

ResultsIndex::~ResultsIndex() { sqlite3_close(impl_->db); }

void ResultsIndex::add_missing(const std::vector<CellIdentity>& cells) {
  // Rows belong to a cell's values (its overrides), not its position: when
  // values were added to or removed from the matrix, each row moves to its
  // cell's new index, and rows of cells no longer in the matrix are parked
  // at negative indices (kept, out of view). Nothing to write when every
  // row is in place already.
  const auto rows = all();
  bool in_place = rows.size() == cells.size();
  for (std::size_t i = 0; in_place && i < cells.size(); ++i) {
    in_place = rows[i].index == cells[i].index &&
               rows[i].overrides == cells[i].overrides;
  }
  if (in_place) return;
  impl_->write([&] {
    std::int64_t shift = 0;
    {
      Statement span(impl_->db,
                     "SELECT COALESCE(MAX(idx) - MIN(MIN(idx), 0) + 1, 0) "
                     "FROM cells",
                     path_);
      impl_->check(span.step(), "read");
      shift = span.integer(0);
    }
    // Below every existing index, so no two rows ever collide.
    Statement park(impl_->db, "UPDATE cells SET idx = idx - ? WHERE idx >= 0",
                   path_);
    park.bind(1, shift);
    impl_->run(park);
    Statement move(impl_->db,
                   "UPDATE cells SET idx = ?, name = ? WHERE idx = (SELECT idx "
                   "FROM cells WHERE overrides = ? AND idx < 0 ORDER BY "
                   "(status = 'done') DESC, idx DESC LIMIT 1)",
                   path_);
    for (const auto& c : cells) {
      move.reset();
      move.bind(1, c.index).bind(2, c.name).bind(3, c.overrides);
      impl_->run(move);
    }
    Statement s(impl_->db,
                "INSERT OR IGNORE INTO cells (idx, name, overrides, "
                "fingerprint) VALUES (?, ?, ?, ?)",
                path_);
    for (const auto& c : cells) {
      s.reset();
      s.bind(1, c.index)
          .bind(2, c.name)
          .bind(3, c.overrides)
          .bind(4, c.fingerprint);
      impl_->run(s);
    }
  });
}

namespace {
const char* const kSelect =
    "SELECT idx, name, overrides, fingerprint, status, attempts, metrics, "
    "started_at, finished_at, seconds, heartbeat, run_dir, error, host, pid "
    "FROM cells";

CellRecord read_row(const Statement& s) {
  CellRecord r;
  r.index = s.integer(0);
  r.name = s.text(1);
  r.overrides = s.text(2);
  r.fingerprint = s.text(3);
  r.status = status_from(s.text(4));
  r.attempts = s.integer(5);
  const std::string metrics = s.text(6);
  if (!metrics.empty()) {
    // A row written by hand with bad JSON: no metrics rather than no index.
    const auto v = nlohmann::ordered_json::parse(metrics, nullptr, false);
    if (v.is_object()) {
      for (const auto& [k, value] : v.items()) {
        if (value.is_number()) r.metrics.emplace_back(k, value.get<double>());
      }
    }
  }
  r.started_at = s.text(7);
  r.finished_at = s.text(8);
  r.seconds = s.real(9);
  r.heartbeat = s.real(10).value_or(0);
  r.run_dir = s.text(11);
  r.error = s.text(12);
  r.host = s.text(13);
  r.pid = s.integer(14);
  return r;
}
}  // namespace

std::vector<CellRecord> ResultsIndex::all() const {
  std::string sql = std::string(kSelect) + " WHERE idx >= 0 ORDER BY idx";
  for (int attempt = 0;; ++attempt) {
    Statement s(impl_->db, sql.c_str(), path_);
    std::vector<CellRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_row(s));
    if (rc == SQLITE_DONE) return out;
    if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 20) {
      impl_->check(rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? SQLITE_ERROR : rc,
                   "read");
      throw Error(path_ + ": the results index stayed locked");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<CellRecord> ResultsIndex::get(std::int64_t index) const {
  for (auto& r : all()) {
    if (r.index == index) return r;
  }
  return std::nullopt;
}

bool ResultsIndex::claim(const CellIdentity& cell, std::int64_t pid,
                         const std::string& host) {
  return impl_->write([&] {
    impl_->insert_if_missing(cell);
    Statement select(impl_->db,
                     (std::string(kSelect) + " WHERE idx = ?").c_str(), path_);
    select.bind(1, cell.index);
    int rc = select.step();
    impl_->check(rc, "read");
    if (rc != SQLITE_ROW) return false;
    if (!needs_run(read_row(select), cell.fingerprint, host_name(),
                   unix_now())) {
      return false;
    }
    Statement update(
        impl_->db,
        "UPDATE cells SET name = ?, overrides = ?, fingerprint = ?, status = "
        "'running', attempts = attempts + 1, accuracy = NULL, ece = NULL, "
        "nll = NULL, brier = NULL, density = NULL, metrics = NULL, "
        "started_at = ?, finished_at = NULL, seconds = NULL, heartbeat = ?, "
        "run_dir = NULL, error = NULL, host = ?, pid = ? WHERE idx = ?",
        path_);
    update.bind(1, cell.name).bind(2, cell.overrides).bind(3, cell.fingerprint);
    update.bind(4, iso_now()).bind(5, unix_now()).bind(6, host).bind(7, pid);
    update.bind(8, cell.index);
    impl_->run(update);
    return true;
  });
}

void ResultsIndex::start(const CellIdentity& cell, std::int64_t pid,
                         const std::string& host, bool new_attempt) {
  impl_->write([&] {
    impl_->insert_if_missing(cell);
    Statement update(
        impl_->db,
        "UPDATE cells SET name = ?, overrides = ?, fingerprint = ?, status = "
        "'running', attempts = attempts + ?, accuracy = NULL, ece = NULL, "
        "nll = NULL, brier = NULL, density = NULL, metrics = NULL, "
        "started_at = ?, finished_at = NULL, seconds = NULL, heartbeat = ?, "
        "run_dir = NULL, error = NULL, host = ?, pid = ? WHERE idx = ?",
        path_);
    update.bind(1, cell.name).bind(2, cell.overrides).bind(3, cell.fingerprint);
    update.bind(4, std::int64_t{new_attempt ? 1 : 0});
    update.bind(5, iso_now()).bind(6, unix_now()).bind(7, host).bind(8, pid);
    update.bind(9, cell.index);
    impl_->run(update);
  });
}

void ResultsIndex::heartbeat(std::int64_t index) {
  impl_->write([&] {
    Statement s(impl_->db, "UPDATE cells SET heartbeat = ? WHERE idx = ?",
                path_);
    s.bind(1, unix_now()).bind(2, index);
    impl_->run(s);
  });
}

void ResultsIndex::finish(
    std::int64_t index,
    const std::vector<std::pair<std::string, double>>& metrics,
    const std::string& run_dir, double seconds) {
  nlohmann::ordered_json row = nlohmann::ordered_json::object();
  for (const auto& [k, v] : metrics) {
    if (std::isfinite(v)) row[k] = v;
  }
  const std::string metrics_text = json_line(row);
  impl_->write([&] {
    Statement s(impl_->db,
                "UPDATE cells SET status = 'done', accuracy = ?, ece = ?, "
                "nll = ?, brier = ?, density = ?, metrics = ?, finished_at = "
                "?, seconds = ?, heartbeat = ?, run_dir = ?, error = NULL "
                "WHERE idx = ?",
                path_);
    for (int c = 0; c < 5; ++c) {
      s.bind_null(c + 1);
      for (const auto& [k, v] : metrics) {
        if (k == kMetricColumns[c]) s.bind(c + 1, v);
      }
    }
    s.bind(6, metrics_text).bind(7, iso_now()).bind(8, seconds);
    s.bind(9, unix_now()).bind(10, run_dir).bind(11, index);
    impl_->run(s);
  });
}

void ResultsIndex::fail(std::int64_t index, const std::string& error,
                        double seconds) {
  impl_->write([&] {
    Statement s(impl_->db,
                "UPDATE cells SET status = 'failed', error = ?, finished_at = "
                "?, seconds = ? WHERE idx = ?",
                path_);
    s.bind(1, error).bind(2, iso_now()).bind(3, seconds).bind(4, index);
    impl_->run(s);
  });
}

bool ResultsIndex::fail_if_running(std::int64_t index, std::int64_t pid,
                                   const std::string& error, double seconds) {
  return impl_->write([&] {
    Statement s(impl_->db,
                "UPDATE cells SET status = 'failed', error = ?, finished_at = "
                "?, seconds = ? WHERE idx = ? AND status = 'running' AND "
                "pid = ?",
                path_);
    s.bind(1, error).bind(2, iso_now()).bind(3, seconds).bind(4, index);
    s.bind(5, pid);
    impl_->run(s);
    return sqlite3_changes(impl_->db) > 0;
  });
}

bool running_alive(const CellRecord& record, const std::string& host,
                   double now) {
  if (record.status != CellStatus::running) return false;
  if (now - record.heartbeat > kStaleSeconds) return false;
  if (record.host != host) return true;  // cannot look: trust the heartbeat
  if (record.pid <= 0) return false;
  return process_alive(record.pid);
}

bool process_alive(std::int64_t pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // A killed process stays until its parent reaps it; a zombie runs
  // nothing. /proc/<pid>/stat reads "pid (name) S ...": S is the state.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;
  const char state = text[paren + 2];
  return state != 'Z' && state != 'X';
}

bool needs_run(const CellRecord& record, const std::string& fingerprint,
               const std::string& host, double now) {
  if (record.status == CellStatus::done)
    return record.fingerprint != fingerprint;
  if (record.status == CellStatus::running) {
    return !running_alive(record, host, now);
  }
  return true;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace cigl
