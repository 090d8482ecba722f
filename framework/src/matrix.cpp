#include "cigl/core/matrix.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "cigl/error.hpp"
#include "config_access.hpp"
#include "toml_value.hpp"

namespace cigl {

bool MatrixValue::operator==(const MatrixValue& other) const {
  if (is_number && other.is_number) return number == other.number;
  return is_string == other.is_string && toml == other.toml;
}

// ------------------------------------------------------------------ cells

const MatrixValue* MatrixCell::find(const std::string& key) const {
  for (const auto& [k, v] : values) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string MatrixCell::overrides_text() const {
  std::string out;
  for (const auto& [k, v] : values) {
    out += (out.empty() ? "" : " ") + k + "=" + v.toml;
  }
  return out;
}

namespace {

std::string sanitize(const std::string& text) {
  std::string out;
  for (char c : text) {
    bool keep =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_';
    if (keep) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

// "density" -> "d", "weight_decay" -> "wd"; names of three letters or
// fewer ("lr") are kept whole.
std::string key_initials(const std::string& key) {
  std::string last = key.substr(key.rfind('.') + 1);
  if (last.size() <= 3) return last;
  std::string out;
  bool start = true;
  for (char c : last) {
    if (c == '_') {
      start = true;
    } else if (start) {
      out += c;
      start = false;
    }
  }
  return out;
}

}  // namespace

std::string cell_name(std::size_t index, std::size_t cell_count,
                      const MatrixValues& values) {
  int width = 3;
  for (std::size_t n = cell_count > 0 ? cell_count - 1 : 0; n >= 1000;
       n /= 10) {
    ++width;
  }
  char head[32];
  std::snprintf(head, sizeof head, "%0*zu", width, index);
  std::string name = head;
  for (const auto& [key, value] : values) {
    std::string piece =
        value.is_string ? value.text : key_initials(key) + value.text;
    piece = sanitize(piece);
    if (!piece.empty()) name += "-" + piece;
  }
  if (name.size() > 120) name.resize(120);  // a file name, not an essay
  return name;
}

// ----------------------------------------------------------------- expand

bool has_matrix(const ConfigDocument& document) {
  return ConfigDocumentAccess::root(document).contains("matrix");
}

namespace {

struct Axis {
  std::string key;
  std::vector<MatrixValue> values;
  std::vector<std::string> origins;
};

[[noreturn]] void fail_at(const std::string& where, const std::string& path,
                          const std::string& message) {
  throw ConfigError(where + ": " + path + ": " + message);
}

void check_key_path(const std::string& key, const std::string& where,
                    const std::string& what) {
  if (key.find('.') == std::string::npos) {
    fail_at(where, what + "." + key,
            "a matrix key is a config key path, section.key, e.g. "
            "\"method.density\"");
  }
}

// One `exclude` or `include` entry: key path -> value, in file order.
std::vector<std::pair<FlatEntry, MatrixValue>> entry_values(
    const toml::node& node, const std::string& path,
    const ConfigDocument& doc) {
  const std::string where = ConfigDocumentAccess::position(node.source(), doc);
  const toml::table* table = node.as_table();
  if (!table || table->empty()) {
    fail_at(where, path,
            "expected a table of key paths and values, e.g. "
            "{ \"method.plugin\" = \"dense\" }");
  }
  std::vector<std::pair<FlatEntry, MatrixValue>> out;
  for (const auto& entry : flatten(*table, false)) {
    check_key_path(entry.path,
                   ConfigDocumentAccess::position(entry.node->source(), doc),
                   path);
    out.emplace_back(entry, matrix_value(*entry.node));
  }
  return out;
}

}  // namespace

Matrix expand_matrix(const ConfigDocument& document) {
  const toml::table& root = ConfigDocumentAccess::root(document);
  Matrix matrix;
  matrix.source = ConfigDocumentAccess::source(document);
  const toml::node* node = root.get("matrix");
  if (!node) return matrix;
  auto pos = [&](const toml::node& n) {
    return ConfigDocumentAccess::position(n.source(), document);
  };
  const toml::table* table = node->as_table();
  if (!table) {
    fail_at(pos(*node), "matrix",
            "expected a table: [matrix] with key path = [values]");
  }

  std::vector<Axis> axes;
  const toml::array* exclude = nullptr;
  const toml::array* include = nullptr;
  for (const auto& entry : flatten(*table, true)) {
    const std::string where = pos(*entry.node);
    if (entry.path == "exclude" || entry.path == "include") {
      const toml::array* list = entry.node->as_array();
      if (!list) {
        fail_at(where, "matrix." + entry.path,
                "expected a list of tables, e.g. [{ \"method.plugin\" = "
                "\"dense\" }]");
      }
      (entry.path == "exclude" ? exclude : include) = list;
      continue;
    }
    check_key_path(entry.path, where, "matrix");
    const toml::array* list = entry.node->as_array();
    if (!list) {
      fail_at(where, "matrix." + entry.path,
              "expected a list of values, e.g. [0.05, 0.1]");
    }
    if (list->empty()) fail_at(where, "matrix." + entry.path, "empty list");
    Axis axis{entry.path, {}, {}};
    // Errors a value causes in a cell point at its key: one line for all
    // the cells that share it.
    const std::string key_where =
        ConfigDocumentAccess::position(entry.key, document);
    for (const auto& item : *list) {
      MatrixValue v = matrix_value(item);
      if (std::find(axis.values.begin(), axis.values.end(), v) !=
          axis.values.end()) {
        fail_at(pos(item), "matrix." + entry.path,
                v.toml + " appears twice in the list");
      }
      axis.values.push_back(v);
      axis.origins.push_back(key_where);
    }
    axes.push_back(std::move(axis));
  }
  for (const auto& axis : axes) matrix.keys.push_back(axis.key);

  // Exclusion rules, checked against the axes so a typo is an error rather
  // than a rule that silently removes nothing.
  std::vector<std::vector<std::pair<std::size_t, MatrixValue>>> rules;
  if (exclude) {
    for (std::size_t r = 0; r < exclude->size(); ++r) {
      const std::string path = "matrix.exclude[" + std::to_string(r) + "]";
      std::vector<std::pair<std::size_t, MatrixValue>> rule;
      for (auto& [entry, value] :
           entry_values(*exclude->get(r), path, document)) {
        // Named apart: a lambda may not capture a structured binding
        // before C++20 (clang refuses it).
        const std::string& key_path = entry.path;
        auto axis = std::find_if(axes.begin(), axes.end(), [&](const Axis& a) {
          return a.key == key_path;
        });
        if (axis == axes.end()) {
          std::string message = "'" + entry.path + "' is not a matrix key";
          std::string near = closest_match(entry.path, matrix.keys);
          if (!near.empty()) message += " (did you mean '" + near + "'?)";
          fail_at(ConfigDocumentAccess::position(entry.key, document), path,
                  message);
        }
        if (std::find(axis->values.begin(), axis->values.end(), value) ==
            axis->values.end()) {
          fail_at(pos(*entry.node), path,
                  value.toml + " is not one of the values of " + entry.path);
        }
        rule.emplace_back(static_cast<std::size_t>(axis - axes.begin()), value);
      }
      rules.push_back(std::move(rule));
    }
  }

  // The cross product, the last axis varying fastest.
  std::vector<std::pair<MatrixValues, std::vector<std::string>>> combos;
  // Bounded before anything is built: 40 keys of two values each would be
  // 10^12 cells (and the product may overflow).
  constexpr std::size_t kMaxCells = 100000;
  std::size_t total = axes.empty() ? 0 : 1;
  for (const auto& axis : axes) {
    if (!axis.values.empty() && total > kMaxCells / axis.values.size()) {
      fail_at(pos(*node), "matrix",
              "more than " + std::to_string(kMaxCells) +
                  " combinations of its " + std::to_string(axes.size()) +
                  " keys; split it into several matrices");
    }
    total *= axis.values.size();
  }
  std::vector<std::size_t> at(axes.size(), 0);
  for (std::size_t n = 0; n < total; ++n) {
    bool excluded = std::any_of(rules.begin(), rules.end(), [&](auto& rule) {
      return std::all_of(rule.begin(), rule.end(), [&](auto& condition) {
        return axes[condition.first].values[at[condition.first]] ==
               condition.second;
      });
    });
    if (excluded) {
      ++matrix.excluded;
    } else {
      MatrixValues values;
      std::vector<std::string> origins;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        values.emplace_back(axes[a].key, axes[a].values[at[a]]);
        origins.push_back(axes[a].origins[at[a]]);
      }
      combos.emplace_back(std::move(values), std::move(origins));
    }
    for (std::size_t a = axes.size(); a-- > 0;) {
      if (++at[a] < axes[a].values.size()) break;
      at[a] = 0;
    }
  }

  if (include) {
    for (std::size_t i = 0; i < include->size(); ++i) {
      const std::string path = "matrix.include[" + std::to_string(i) + "]";
      MatrixValues values;
      std::vector<std::string> origins;
      for (auto& [entry, value] :
           entry_values(*include->get(i), path, document)) {
        values.emplace_back(entry.path, value);
        origins.push_back(ConfigDocumentAccess::position(entry.key, document));
        if (std::find(matrix.keys.begin(), matrix.keys.end(), entry.path) ==
            matrix.keys.end()) {
          matrix.keys.push_back(entry.path);
        }
      }
      combos.emplace_back(std::move(values), std::move(origins));
    }
  }

  if (combos.empty()) {
    fail_at(pos(*node), "matrix", "no cells (every combination is excluded)");
  }
  for (std::size_t i = 0; i < combos.size(); ++i) {
    MatrixCell cell;
    cell.index = i;
    cell.values = std::move(combos[i].first);
    cell.origins = std::move(combos[i].second);
    cell.name = cell_name(i, combos.size(), cell.values);
    matrix.cells.push_back(std::move(cell));
  }
  return matrix;
}

ConfigDocument cell_document(const ConfigDocument& base,
                             const MatrixCell& cell) {
  ConfigDocument doc = ConfigDocumentAccess::copy(base);
  for (std::size_t i = 0; i < cell.values.size(); ++i) {
    const auto& [key, value] = cell.values[i];
    doc.apply_override(key + "=" + value.toml,
                       i < cell.origins.size() ? cell.origins[i] : "");
  }
  doc.apply_override(
      "experiment.name=" + toml_text(toml::value<std::string>(cell.name)),
      "matrix cell " + cell.name);
  return doc;
}

std::vector<ExperimentConfig> resolve_cells(const ConfigDocument& base,
                                            const Matrix& matrix,
                                            const Registry& registry) {
  std::vector<ExperimentConfig> configs;
  // Each distinct problem once, with the cells it concerns.
  std::vector<std::pair<std::string, std::vector<std::string>>> problems;
  for (const auto& cell : matrix.cells) {
    try {
      configs.push_back(cell_document(base, cell).resolve(registry));
    } catch (const ConfigError& e) {
      std::stringstream lines(e.what());
      for (std::string line; std::getline(lines, line);) {
        auto it = std::find_if(problems.begin(), problems.end(),
                               [&](const auto& p) { return p.first == line; });
        if (it == problems.end()) {
          problems.push_back({line, {}});
          it = problems.end() - 1;
        }
        it->second.push_back(cell.name);
      }
    }
  }
  if (problems.empty()) return configs;
  std::string message;
  for (const auto& [line, cells] : problems) {
    message += (message.empty() ? "" : "\n") + line;
    if (cells.size() == matrix.cells.size()) continue;
    message += " (in cell" + std::string(cells.size() > 1 ? "s " : " ");
    for (std::size_t i = 0; i < cells.size() && i < 4; ++i) {
      message += (i ? ", " : "") + cells[i];
    }
    if (cells.size() > 4) {
      message += " and " + std::to_string(cells.size() - 4) + " more";
    }
    message += ")";
  }
  throw ConfigError(message);
}

std::string config_fingerprint(const ExperimentConfig& config,
                               const std::string& code) {
  ExperimentConfig copy = config;
  copy.source.clear();  // the same config read from another path
  // Nor the cell's name, which holds its position in the matrix: a cell
  // renumbered because values were added elsewhere is the same run.
  copy.experiment.set("name", std::string(), "fingerprint");
  const std::string text = to_toml(copy) + "\n" + code;
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(hash));
  return buf;
}

// ------------------------------------------------------------------ slurm

SlurmOptions slurm_options(const ConfigDocument& document) {
  SlurmOptions options;
  const toml::node* node = ConfigDocumentAccess::root(document).get("slurm");
  if (!node) return options;
  auto pos = [&](const toml::node& n) {
    return ConfigDocumentAccess::position(n.source(), document);
  };
  const toml::table* table = node->as_table();
  if (!table) fail_at(pos(*node), "slurm", "expected a table");
  const std::vector<std::string> known = {
      "partition",    "time",           "mem",          "account",
      "gpus",         "cpus_per_task",  "max_parallel", "setup",
      "extra",        "signal_seconds", "nodes",        "tasks_per_node",
      "gpus_per_node"};
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    const std::string path = "slurm." + name;
    // Named apart: a lambda may not capture a structured binding before
    // C++20 (clang refuses it).
    const toml::node& item = value;
    const std::string where = pos(item);
    auto string_list = [&](std::vector<std::string>& out) {
      if (auto s = item.value_exact<std::string>()) {
        out.push_back(*s);
        return;
      }
      const toml::array* list = item.as_array();
      if (list) {
        for (const auto& element : *list) {
          auto s = element.value_exact<std::string>();
          if (!s) break;
          out.push_back(*s);
        }
      }
      if (!list || out.size() != list->size()) {
        fail_at(where, path, "expected a list of strings");
      }
    };
    auto count = [&](std::int64_t& out, std::int64_t min = 0) {
      auto v = item.value_exact<std::int64_t>();
      if (!v || *v < min) {
        fail_at(where, path, "expected an integer >= " + std::to_string(min));
      }
      out = *v;
    };
    auto text = [&](std::string& out) {
      auto v = item.value_exact<std::string>();
      if (!v) fail_at(where, path, "expected a string");
      out = *v;
    };
    if (name == "partition") {
      text(options.partition);
    } else if (name == "time") {
      text(options.time);
    } else if (name == "mem") {
      text(options.mem);
    } else if (name == "account") {
      text(options.account);
    } else if (name == "gpus") {
      count(options.gpus);
    } else if (name == "cpus_per_task") {
      count(options.cpus_per_task);
    } else if (name == "max_parallel") {
      count(options.max_parallel);
    } else if (name == "signal_seconds") {
      count(options.signal_seconds);
    } else if (name == "nodes") {
      count(options.nodes, 1);
    } else if (name == "tasks_per_node") {
      count(options.tasks_per_node, 1);
    } else if (name == "gpus_per_node") {
      count(options.gpus_per_node);
    } else if (name == "setup") {
      string_list(options.setup);
    } else if (name == "extra") {
      string_list(options.extra);
    } else {
      std::string message = "unknown key";
      std::string near = closest_match(name, known);
      if (!near.empty()) message += " (did you mean '" + near + "'?)";
      fail_at(ConfigDocumentAccess::position(key.source(), document), path,
              message);
    }
  }
  return options;
}

std::string shell_quote(const std::string& word) {
  const bool plain =
      !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string("_./=:,@%+-").find(c) != std::string::npos;
      });
  if (plain) return word;
  std::string out = "'";
  for (char c : word)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurm_script(const SlurmJob& job, const SlurmOptions& options) {
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# One Slurm array task per matrix cell; every task records its cell "
       "in\n# "
    << job.matrix_root << "/results.sqlite.\n"
    << "# Written by cigl-run --emit-slurm. Submit: sbatch <this file>\n"
    << "#SBATCH --job-name=" << job.job_name << "\n"
    << "#SBATCH --array=0-" << (job.cells > 0 ? job.cells - 1 : 0);
  if (options.max_parallel > 0) s << "%" << options.max_parallel;
  s << "\n#SBATCH --output=" << job.matrix_root << "/slurm/%A_%a.out\n";
  if (!options.partition.empty())
    s << "#SBATCH --partition=" << options.partition << "\n";
  if (!options.account.empty())
    s << "#SBATCH --account=" << options.account << "\n";
  if (!options.time.empty()) s << "#SBATCH --time=" << options.time << "\n";
  if (options.gpus > 0) s << "#SBATCH --gpus=" << options.gpus << "\n";
  const bool ranks = options.nodes * options.tasks_per_node > 1;
  if (ranks) {
    // One rank per task; srun starts them and gives each its SLURM_PROCID.
    s << "# Each cell is a data-parallel run of " << options.nodes << " x "
      << options.tasks_per_node << " ranks, one per task.\n"
      << "#SBATCH --nodes=" << options.nodes << "\n"
      << "#SBATCH --ntasks-per-node=" << options.tasks_per_node << "\n";
  }
  if (options.gpus_per_node > 0) {
    s << "#SBATCH --gpus-per-node=" << options.gpus_per_node << "\n";
  }
  if (options.cpus_per_task > 0)
    s << "#SBATCH --cpus-per-task=" << options.cpus_per_task << "\n";
  if (!options.mem.empty()) s << "#SBATCH --mem=" << options.mem << "\n";
  if (options.signal_seconds > 0) {
    // A warning before the time limit (to this shell), and requeueing: an
    // interrupted cell continues from its checkpoint in the next attempt.
    s << "#SBATCH --signal=B:USR1@" << options.signal_seconds << "\n"
      << "#SBATCH --requeue\n";
  }
  for (const auto& extra : options.extra) s << "#SBATCH " << extra << "\n";
  s << "\nset -euo pipefail\n"
    << "# output_dir in the config is relative to this folder\n"
    << "cd " << shell_quote(job.workdir) << "\n";
  for (const auto& line : options.setup) s << line << "\n";
  // Several ranks: srun starts one cigl-run per task, and ends them all
  // when one fails.
  std::vector<std::string> command = job.command;
  if (ranks) {
    command.insert(command.begin(), {"srun", "--kill-on-bad-exit=1"});
  }
  if (options.signal_seconds <= 0) {
    s << "exec";
    for (const auto& word : command) s << " " << shell_quote(word);
    s << " \\\n  --threads \"${SLURM_CPUS_PER_TASK:-0}\""
      << " --cell \"$SLURM_ARRAY_TASK_ID\"\n";
    return s.str();
  }
  for (std::size_t i = 0; i < command.size(); ++i) {
    s << (i ? " " : "") << shell_quote(command[i]);
  }
  s << " \\\n  --threads \"${SLURM_CPUS_PER_TASK:-0}\""
    << " --cell \"$SLURM_ARRAY_TASK_ID\" &\n"
    << "cell=$!\n"
    << "# The warning (or a preemption's SIGTERM) goes on to the cell, which\n"
    << "# stops at the next step with a checkpoint and exits 128 + signal.\n"
    << "trap 'kill -USR1 \"$cell\" 2>/dev/null || true' USR1 TERM\n"
    << "set +e\n"
    << "wait \"$cell\"; status=$?\n"
    << "while kill -0 \"$cell\" 2>/dev/null; do wait \"$cell\"; "
       "status=$?; done\n"
    << "if [ \"$status\" -gt 128 ]; then\n"
    << "  scontrol requeue "
       "\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
    << "fi\n"
    << "exit \"$status\"\n";
  return s.str();
}

}  // namespace cigl
