#include "cigl/core/matrix_run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "cigl/core/number_text.hpp"
#include "cigl/core/provenance.hpp"
#include "cigl/core/signals.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/error.hpp"
#include "config_access.hpp"
#include "csv_text.hpp"
#include "json_text.hpp"
#include "rank0.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace cigl {

std::string MatrixSetup::index_path() const {
  return (fs::path(root) / "results.sqlite").string();
}

std::string MatrixSetup::cell_dir(std::size_t cell) const {
  return (fs::path(root) / "cells" / matrix.cells.at(cell).name).string();
}

namespace {

// Compact, one line: the index is read with sqlite3 as often as with code.
std::string overrides_json(const MatrixCell& cell) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [key, value] : cell.values) {
    if (value.is_number &&
        value.toml.find_first_of(".eEin") == std::string::npos) {
      out[key] = static_cast<std::int64_t>(value.number);  // a TOML integer
    } else if (value.is_number) {
      out[key] = value.number;
    } else if (value.is_string) {
      out[key] = value.text;
    } else {
      out[key] = value.toml;  // arrays, tables, booleans as TOML
    }
  }
  return json_line(out);
}

// The string a key of the base document holds, or the declared default.
std::string base_string(const ConfigDocument& document, const char* key) {
  const auto& root = ConfigDocumentAccess::root(document);
  if (auto v = root["experiment"][key].value<std::string>()) return *v;
  for (const auto& spec : experiment_specs()) {
    if (spec.name == key) return std::get<std::string>(spec.default_value);
  }
  return "";
}

const CellRecord* find_row(const std::vector<CellRecord>& rows,
                           std::size_t index) {
  for (const auto& r : rows) {
    if (r.index == static_cast<std::int64_t>(index)) return &r;
  }
  return nullptr;
}

// The status a reader should see: a row of another config is stale.
std::string effective_status(const CellRecord* row,
                             const CellIdentity& identity) {
  if (!row) return "missing";
  if (row->fingerprint != identity.fingerprint || row->name != identity.name) {
    return "stale";
  }
  return status_name(row->status);
}

std::string key_metrics(const CellRecord& row) {
  std::string out;
  for (const char* name : {"accuracy", "ece", "nll"}) {
    if (const double* v = row.metric(name)) {
      out += std::string("  ") + name + " " + fixed(*v, 4);
    }
  }
  return out;
}

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

MatrixSetup prepare_matrix(const ConfigDocument& document,
                           const std::string& config_path,
                           const Registry& registry, const std::string& root) {
  MatrixSetup setup;
  setup.config_path = fs::absolute(config_path).lexically_normal().string();
  setup.matrix = expand_matrix(document);
  setup.root = root.empty() ? (fs::path(base_string(document, "output_dir")) /
                               base_string(document, "name"))
                                  .string()
                            : root;
  setup.configs = resolve_cells(document, setup.matrix, registry);
  for (std::size_t i = 0; i < setup.matrix.cells.size(); ++i) {
    const auto& cell = setup.matrix.cells[i];
    setup.identities.push_back(
        {static_cast<std::int64_t>(i), cell.name, overrides_json(cell),
         config_fingerprint(setup.configs[i],
                            code_versions(setup.configs[i], registry))});
  }
  return setup;
}

// ------------------------------------------------------------ one cell

namespace {

// Keeps the row's heartbeat fresh from its own connection, so a cell that
// runs for hours on another host is not taken for dead.
class Heartbeat {
 public:
  Heartbeat(const std::string& path, std::int64_t index)
      : thread_([this, path, index] {
          std::unique_lock<std::mutex> lock(mutex_);
          while (!stop_.wait_for(lock, std::chrono::seconds(30),
                                 [this] { return stopping_; })) {
            try {
              ResultsIndex(path).heartbeat(index);
            } catch (...) {  // nothing may escape a thread
              // A missed beat only matters after kStaleSeconds of them.
            }
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    stop_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace

bool run_cell(const MatrixSetup& setup, std::size_t cell,
              const Registry& registry, int threads, std::ostream* log,
              std::shared_ptr<Communicator> ranks) {
  const bool writer = !ranks || ranks->rank() == 0;
  std::ostream silent(nullptr);
  std::ostream& out = !writer ? silent : (log ? *log : std::cout);
  if (cell >= setup.matrix.cells.size()) {
    throw ConfigError("--cell " + std::to_string(cell) +
                      ": the matrix has cells 0 to " +
                      std::to_string(setup.matrix.cells.size() - 1));
  }
  const CellIdentity& identity = setup.identities[cell];
  // Rank 0 alone touches the index; the others follow its decision.
  std::optional<ResultsIndex> index;
  const bool run =
      decided_on_rank0(ranks.get(), [&]() -> int {
        fs::create_directories(setup.cell_dir(cell));
        index.emplace(setup.index_path());
        const std::string host = host_name();
        const std::int64_t pid = ::getpid();
        const auto row = index->get(identity.index);
        if (row && row->status == CellStatus::done &&
            row->fingerprint == identity.fingerprint) {
          out << "cell " << identity.name << " is done already; skipped\n";
          return 0;
        }
        // A parent cigl-run claims the row (counting the attempt) before it
        // starts this process.
        const bool claimed = row && row->status == CellStatus::running &&
                             row->host == host && row->pid == ::getppid();
        if (claimed && row->fingerprint != identity.fingerprint) {
          // The parent expanded the file as it was; it has been edited since.
          throw ConfigError("cell " + std::to_string(cell) + ": " +
                            setup.config_path +
                            " changed since this matrix run started; cell not "
                            "run (re-run the matrix to pick up the change)");
        }
        if (claimed) {
          index->start(identity, pid, host, false);
        } else if (!index->claim(identity, pid, host)) {
          // In one transaction: another process holds (or just finished) it.
          out << "cell " << identity.name
              << " is running or done in another process; not started twice\n";
          return 0;
        }
        return 1;
      }) != 0;
  if (!run) return false;

  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         started)
        .count();
  };
  const ExperimentConfig& config = setup.configs[cell];
  set_default_cpu_threads(threads);  // what a cell's threads = 0 means
  std::optional<Heartbeat> heartbeat;
  if (writer) heartbeat.emplace(setup.index_path(), identity.index);
  try {
    RunOptions options;
    options.run_dir = setup.cell_dir(cell);
    options.log = &out;
    options.ranks = ranks;
    // The index decides what runs: a cell interrupted before continues
    // from its checkpoint, a cell of a changed config starts over.
    options.existing = ExistingRun::continue_or_restart;
    RunSummary summary = run_experiment(config, registry, options);
    auto metrics = summary.test;
    metrics.emplace_back("density", summary.density);
    metrics.emplace_back("steps", static_cast<double>(summary.steps));
    metrics.emplace_back("train_seconds", summary.seconds);
    if (writer) {
      index->finish(identity.index, metrics, summary.run_dir, elapsed());
    }
  } catch (const Interrupted& e) {
    if (writer) {
      index->fail(
          identity.index,
          std::string(e.what()) + " (runs on when the matrix is run again)",
          elapsed());
    }
    throw;
  } catch (const std::exception& e) {
    if (writer) index->fail(identity.index, e.what(), elapsed());
    throw;
  }
  return true;
}

// ------------------------------------------------------------ the matrix

std::size_t run_matrix(const MatrixSetup& setup,
                       const MatrixRunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cout;
  const auto& cells = setup.matrix.cells;
  fs::create_directories(fs::path(setup.root) / "cells");
  ResultsIndex index(setup.index_path());
  index.add_missing(setup.identities);
  const std::string host = host_name();
  const auto rows = index.all();

  std::vector<std::size_t> todo;
  std::size_t done_before = 0, busy = 0;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const CellRecord* row = find_row(rows, i);
    const auto& fingerprint = setup.identities[i].fingerprint;
    if (row && !needs_run(*row, fingerprint, host, unix_now())) {
      if (row->status == CellStatus::done) {
        ++done_before;
        log << "skip   " << cells[i].name << ": done already"
            << key_metrics(*row) << "\n";
      } else {
        ++busy;
        log << "busy   " << cells[i].name << ": running in process " << row->pid
            << " on " << row->host << "\n";
      }
      continue;
    }
    if (row && row->status == CellStatus::done) {
      log << "rerun  " << cells[i].name
          << ": done with another config or other code (cigl or a plugin "
             "version changed)\n";
    }
    todo.push_back(i);
  }
  const int jobs = std::max(1, options.jobs);
  log << "matrix " << fs::path(setup.root).filename().string() << ": "
      << cells.size() << " cells";
  if (setup.matrix.excluded)
    log << " (" << setup.matrix.excluded << " excluded)";
  log << ", " << done_before << " done already, " << todo.size() << " to run, "
      << std::min<std::size_t>(jobs, std::max<std::size_t>(todo.size(), 1))
      << " at a time";
  if (options.threads > 0) log << ", " << options.threads << " threads each";
  log << "\n  index " << setup.index_path() << std::endl;

  struct Active {
    std::size_t cell;
    std::chrono::steady_clock::time_point started;
  };
  std::map<pid_t, Active> active;
  std::size_t finished = 0, failed = 0;
  const auto matrix_start = std::chrono::steady_clock::now();
  auto spawn = [&](std::size_t i) -> bool {
    const std::string dir = setup.cell_dir(i);
    fs::create_directories(dir);
    if (!index.claim(setup.identities[i], ::getpid(), host)) {
      // Another process got there first: done by now, or still running
      // (then this run does not count as complete).
      const auto row = index.get(setup.identities[i].index);
      if (row && row->status == CellStatus::done &&
          row->fingerprint == setup.identities[i].fingerprint) {
        ++done_before;
        log << "skip   " << cells[i].name << ": done by another process\n";
      } else {
        ++busy;
        log << "busy   " << cells[i].name << ": taken by another process\n";
      }
      return false;
    }
    std::vector<std::string> args = {options.executable, "--config",
                                     setup.config_path};
    args.insert(args.end(), options.child_args.begin(),
                options.child_args.end());
    args.insert(args.end(), {"--cell", std::to_string(i), "--threads",
                             std::to_string(options.threads)});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_file = (fs::path(dir) / "log.txt").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // Appended: a cell resumed after an interruption keeps its earlier log.
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    // Each cell in its own process group: a Ctrl-C on the terminal reaches
    // this process alone, which passes it on to each cell exactly once.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, options.executable.c_str(), &actions,
                         &attributes, argv.data(), environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      index.fail_if_running(static_cast<std::int64_t>(i), ::getpid(),
                            std::string("cannot start ") + options.executable +
                                ": " + std::strerror(rc),
                            0);
      ++finished;
      ++failed;
      log << "FAILED " << cells[i].name << ": cannot start "
          << options.executable << ": " << std::strerror(rc) << std::endl;
      return false;
    }
    active[pid] = {i, std::chrono::steady_clock::now()};
    log << "start  " << cells[i].name << " (pid " << pid << ")" << std::endl;
    return true;
  };

  std::size_t next = 0;
  std::size_t interrupted = 0;
  int forwarded = 0;  // the stop signal passed on to the running cells
  while ((next < todo.size() && !stop_signal()) || !active.empty()) {
    while (static_cast<int>(active.size()) < jobs && next < todo.size() &&
           !stop_signal()) {
      spawn(todo[next++]);
    }
    if (active.empty()) continue;
    if (const int signal = stop_signal(); signal && !forwarded) {
      forwarded = signal;
      log << "stopping: " << signal_name(signal) << " passed on to "
          << active.size() << " running cell(s), which write checkpoints"
          << std::endl;
      for (const auto& [child, a] : active) {
        ::kill(child, signal);
        // A cell suspended (job control, a debugger) acts on it only
        // once continued.
        ::kill(child, SIGCONT);
      }
    }
    int status = 0;
    // Polled, so a stop signal is seen while cells run.
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("waitpid: ") + std::strerror(errno));
    }
    auto it = active.find(pid);
    if (it == active.end()) continue;  // not one of ours
    const Active a = it->second;
    active.erase(it);
    ++finished;
    const double seconds = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - a.started)
                               .count();
    const auto i = static_cast<std::int64_t>(a.cell);
    // A child that died without a word leaves its row running: record why.
    const std::string why =
        exit_text(status) + " (see " +
        (fs::path(setup.cell_dir(a.cell)) / "log.txt").string() + ")";
    index.fail_if_running(i, pid, why, seconds);
    index.fail_if_running(i, ::getpid(), why, seconds);
    auto row = index.get(i);
    char count[32];
    std::snprintf(count, sizeof count, "[%zu/%zu]", finished, todo.size());
    const bool ok = row && row->status == CellStatus::done &&
                    WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const bool stopped = WIFEXITED(status) && WEXITSTATUS(status) > 128;
    if (ok) {
      log << count << " done   " << cells[a.cell].name << key_metrics(*row)
          << "  " << fixed(seconds, 1) << "s" << std::endl;
    } else if (stopped) {
      ++interrupted;
      log << count << " INTERRUPTED " << cells[a.cell].name
          << ": checkpoint written, continues when the matrix runs again  "
          << fixed(seconds, 1) << "s" << std::endl;
    } else {
      ++failed;
      std::string error = row && !row->error.empty() ? row->error : why;
      std::replace(error.begin(), error.end(), '\n', ' ');
      log << count << " FAILED " << cells[a.cell].name << ": " << error << "  "
          << fixed(seconds, 1) << "s" << std::endl;
    }
  }
  const double total = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - matrix_start)
                           .count();
  log << "matrix: " << (finished - failed - interrupted) << " done, " << failed
      << " failed, ";
  if (interrupted) log << interrupted << " interrupted, ";
  if (next < todo.size()) log << (todo.size() - next) << " not started, ";
  log << done_before << " skipped as done";
  if (busy) log << ", " << busy << " running elsewhere";
  log << " (" << fixed(total, 1) << "s)\n";
  return failed + busy + interrupted + (todo.size() - next);
}

// ----------------------------------------------------------------- views

std::vector<CellResult> cell_results(const MatrixSetup& setup,
                                     const ResultsIndex* index) {
  std::vector<CellRecord> rows;
  if (index) rows = index->all();
  std::vector<CellResult> out;
  for (std::size_t i = 0; i < setup.matrix.cells.size(); ++i) {
    const auto& cell = setup.matrix.cells[i];
    const CellRecord* row = find_row(rows, i);
    CellResult r;
    r.index = i;
    r.name = cell.name;
    r.values = cell.values;
    r.status = effective_status(row, setup.identities[i]);
    if (row && r.status != "stale") {
      r.error = row->error;
      r.metrics = row->metrics;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string cells_table(const MatrixSetup& setup, const ResultsIndex* index) {
  const auto results = cell_results(setup, index);
  std::size_t name_w = 4;
  for (const auto& c : setup.matrix.cells)
    name_w = std::max(name_w, c.name.size());
  std::string out;
  auto pad = [](std::string s, std::size_t w) {
    s.resize(std::max(w, s.size()), ' ');
    return s;
  };
  out += pad("cell", 5) + "  " + pad("name", name_w) + "  ";
  if (index) out += pad("status", 8) + "  ";
  out += "overrides\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    out +=
        pad(std::to_string(i), 5) + "  " + pad(results[i].name, name_w) + "  ";
    if (index) out += pad(results[i].status, 8) + "  ";
    out += setup.matrix.cells[i].overrides_text() + "\n";
  }
  return out;
}

std::string results_csv(const MatrixSetup& setup, const ResultsIndex& index) {
  const auto rows = index.all();
  const auto results = cell_results(setup, &index);
  std::vector<std::string> metrics;  // in first-seen order
  for (const auto& r : results) {
    for (const auto& [k, v] : r.metrics) {
      if (std::find(metrics.begin(), metrics.end(), k) == metrics.end()) {
        metrics.push_back(k);
      }
    }
  }
  std::string out = "index,name,status";
  for (const auto& k : setup.matrix.keys) out += "," + csv_field(k);
  for (const auto& m : metrics) out += "," + csv_field(m);
  out += ",seconds,attempts,started_at,finished_at,host,run_dir,error\n";
  for (const auto& r : results) {
    const auto& cell = setup.matrix.cells[r.index];
    out += std::to_string(r.index) + "," + csv_field(r.name) + "," + r.status;
    for (const auto& k : setup.matrix.keys) {
      const MatrixValue* v = cell.find(k);
      out += "," + (v ? csv_field(v->is_string ? v->text : v->toml) : "");
    }
    for (const auto& m : metrics) {
      out += ",";
      for (const auto& [k, v] : r.metrics) {
        if (k == m) out += shortest(v);
      }
    }
    const CellRecord* row = find_row(rows, r.index);
    if (row && r.status != "stale" && r.status != "missing") {
      out += "," + (row->seconds ? shortest(*row->seconds) : "") + "," +
             std::to_string(row->attempts) + "," + row->started_at + "," +
             row->finished_at + "," + csv_field(row->host) + "," +
             csv_field(row->run_dir) + "," + csv_field(row->error);
    } else {
      out += ",,,,,,,";
    }
    out += "\n";
  }
  return out;
}

}  // namespace cigl
