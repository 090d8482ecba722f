// cigl-run: trains, evaluates and reports an experiment from a TOML config.
// Exit codes: 0 success, 2 usage or config error, 1 runtime failure.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>

#include "cigl/core/check.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/matrix.hpp"
#include "cigl/core/matrix_run.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/run.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"

namespace po = boost::program_options;

namespace {

constexpr int kOk = 0;
constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;
constexpr int kCheckFailed = 3;

void print_errors(const std::string& message) {
  // One "error:" line per problem, so each can be read (and grepped) alone.
  std::size_t begin = 0;
  while (begin <= message.size()) {
    auto end = message.find('\n', begin);
    if (end == std::string::npos) end = message.size();
    std::cerr << "error: " << message.substr(begin, end - begin) << "\n";
    begin = end + 1;
  }
}

void list_plugins(const cigl::Registry& registry,
                  const std::vector<std::string>& search_path) {
  std::cout << "plugin folders (most specific first):\n";
  for (const auto& dir : search_path) std::cout << "  " << dir << "\n";
  for (cigl::Kind kind : cigl::all_kinds()) {
    auto components = registry.components(kind);
    std::cout << "\n" << cigl::kind_name(kind) << "s:\n";
    if (components.empty()) std::cout << "  (none)\n";
    for (const auto* c : components) {
      char line[160];
      std::snprintf(line, sizeof line, "  %-16s %-9s %s", c->spec.name.c_str(),
                    c->plugin ? c->plugin->version.c_str() : "-",
                    c->spec.doc.c_str());
      std::cout << line << "\n                   " << c->file() << "\n";
    }
  }
  for (const auto& s : registry.shadowed()) {
    std::cout << "\nnote: " << cigl::kind_name(s.kind) << "/" << s.name
              << " in " << s.file << " is shadowed by " << s.shadowed_by
              << "\n";
  }
}

int describe(const cigl::Registry& registry, const std::string& what) {
  auto slash = what.find('/');
  auto kind = cigl::kind_from_name(what.substr(0, slash));
  if (slash == std::string::npos || !kind) {
    std::cerr << "error: --describe takes kind/name, e.g. method/static "
                 "(kinds:";
    for (cigl::Kind k : cigl::all_kinds()) {
      std::cerr << (k == cigl::all_kinds().front() ? " " : ", ")
                << cigl::kind_name(k);
    }
    std::cerr << ")\n";
    return kUsageError;
  }
  const std::string name = what.substr(slash + 1);
  const auto* c = registry.find(*kind, name);
  if (!c) {
    std::cerr << "error: " << registry.unknown_message(*kind, name) << "\n";
    return kUsageError;
  }
  std::cout << cigl::kind_name(*kind) << "/" << name << ": " << c->spec.doc
            << "\n  from " << c->file() << "\n\n";
  if (c->spec.params.empty()) std::cout << "  (no parameters)\n";
  for (const auto& p : c->spec.params) {
    std::cout << "  " << p.name << " (" << cigl::type_name(p.type)
              << ", default " << cigl::to_string(p.default_value);
    auto constraint = p.constraint_text();
    if (!constraint.empty()) std::cout << ", " << constraint;
    std::cout << ")\n      " << p.doc << "\n";
  }
  return kOk;
}

namespace fs = std::filesystem;

// Options that only mean something with a [matrix] table.
const char* const kMatrixOptions[] = {
    "jobs",  "cell",   "threads",         "list-cells", "export",
    "check", "no-run", "allow-unchecked", "emit-slurm"};

int run_matrix_command(const po::variables_map& vm,
                       const cigl::ConfigDocument& document,
                       const cigl::Registry& registry) {
  const std::string config_path = vm["config"].as<std::string>();
  std::string root;
  if (vm.count("output")) root = fs::absolute(vm["output"].as<std::string>());
  // Baselines first: a typo there should not cost a whole matrix run.
  std::optional<cigl::Baselines> baselines;
  if (vm.count("check")) {
    baselines = cigl::Baselines::from_file(vm["check"].as<std::string>());
  }
  if (vm.count("no-run") && !vm.count("check")) {
    throw cigl::ConfigError("--no-run goes with --check FILE");
  }
  const cigl::MatrixSetup setup =
      cigl::prepare_matrix(document, config_path, registry, root);
  if (baselines) {
    // With no cells this only checks the match keys against the matrix.
    cigl::check_results(*baselines, {}, setup.matrix.keys);
  }
  const int threads = vm.count("threads") ? vm["threads"].as<int>() : 0;

  if (vm.count("cell")) {
    const int cell = vm["cell"].as<int>();
    if (cell < 0 ||
        static_cast<std::size_t>(cell) >= setup.matrix.cells.size()) {
      throw cigl::ConfigError(
          "--cell " + std::to_string(cell) + ": the matrix has cells 0 to " +
          std::to_string(setup.matrix.cells.size() - 1) + " (--list-cells)");
    }
    if (vm.count("inspect")) {
      auto report = cigl::inspect(
          setup.configs[cell], registry,
          cigl::convention_from_name(vm["flops"].as<std::string>()));
      std::cout << (vm["format"].as<std::string>() == "json"
                        ? cigl::inspect_json(report)
                        : cigl::inspect_text(report));
      return kOk;
    }
    cigl::run_cell(setup, static_cast<std::size_t>(cell), registry, threads);
    return kOk;
  }
  if (vm.count("inspect")) {
    throw cigl::ConfigError("--inspect on a matrix needs --cell N");
  }
  std::error_code ec;
  const bool has_index = fs::exists(setup.index_path(), ec);
  if (vm.count("list-cells")) {
    std::optional<cigl::ResultsIndex> index;
    if (has_index) index.emplace(setup.index_path());
    std::cout << cigl::cells_table(setup, index ? &*index : nullptr);
    return kOk;
  }

  // What a child needs besides --config to rebuild the same matrix.
  std::vector<std::string> child_args;
  if (vm.count("set")) {
    for (const auto& s : vm["set"].as<std::vector<std::string>>()) {
      child_args.insert(child_args.end(), {"--set", s});
    }
  }
  if (vm.count("plugin-path")) {
    for (const auto& p : vm["plugin-path"].as<std::vector<std::string>>()) {
      child_args.insert(child_args.end(),
                        {"--plugin-path", fs::absolute(p).string()});
    }
  }
  if (!root.empty()) child_args.insert(child_args.end(), {"--output", root});
  const std::string executable = fs::read_symlink("/proc/self/exe").string();

  if (vm.count("emit-slurm")) {
    std::string file = vm["emit-slurm"].as<std::string>();
    const std::string abs_root = fs::absolute(setup.root).lexically_normal();
    if (file.empty()) file = abs_root + "/slurm.sbatch";
    cigl::SlurmJob job;
    job.job_name = fs::path(abs_root).filename().string();
    job.cells = setup.matrix.cells.size();
    job.matrix_root = abs_root;
    job.workdir = fs::current_path().string();
    job.command = {executable, "--config", setup.config_path};
    job.command.insert(job.command.end(), child_args.begin(), child_args.end());
    const auto options = cigl::slurm_options(document);
    fs::create_directories(fs::path(abs_root) / "slurm");
    {
      // Tasks on several nodes share the index: a rollback journal, since
      // WAL needs shared memory on one host.
      cigl::ResultsIndex index(setup.index_path(),
                               cigl::ResultsIndex::Journal::rollback);
      index.add_missing(setup.identities);
    }
    std::ofstream out(file);
    out << cigl::slurm_script(job, options);
    if (!out.flush()) throw cigl::Error("cannot write " + file);
    std::cout << "wrote " << file << ": an array of " << job.cells
              << " tasks, one per cell\nsubmit with: sbatch " << file << "\n";
    return kOk;
  }

  if (vm.count("export")) {
    const auto args = vm["export"].as<std::vector<std::string>>();
    if (args.empty() || args.size() > 2 || args[0] != "csv") {
      throw cigl::ConfigError(
          "--export takes csv and optionally a file: "
          "--export csv [FILE]");
    }
    if (!has_index) {
      throw cigl::ConfigError(setup.index_path() +
                              ": no results index yet; run the matrix first");
    }
    const std::string file =
        args.size() > 1 ? args[1] : setup.root + "/results.csv";
    cigl::ResultsIndex index(setup.index_path());
    std::ofstream out(file);
    out << cigl::results_csv(setup, index);
    if (!out.flush()) throw cigl::Error("cannot write " + file);
    std::cout << "wrote " << file << " (" << setup.matrix.cells.size()
              << " cells)\n";
    return kOk;
  }

  std::size_t unfinished = 0;
  if (!vm.count("no-run")) {
    cigl::MatrixRunOptions options;
    options.executable = executable;
    options.child_args = child_args;
    options.jobs = vm["jobs"].as<int>();
    options.threads = threads;
    // Cores shared out between the cells running at once, unless the
    // config sets experiment.threads itself.
    if (options.threads == 0 &&
        setup.configs.front().experiment.integer("threads") == 0) {
      const int cores =
          std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
      options.threads = std::max(1, cores / std::max(1, options.jobs));
    }
    unfinished = cigl::run_matrix(setup, options);
  }
  if (!baselines) return unfinished == 0 ? kOk : kRuntimeError;

  if (!fs::exists(setup.index_path(), ec)) {
    throw cigl::ConfigError(setup.index_path() +
                            ": no results index yet; run the matrix first");
  }
  cigl::ResultsIndex index(setup.index_path());
  const auto report = cigl::check_results(
      *baselines, cigl::cell_results(setup, &index), setup.matrix.keys);
  std::cout << cigl::check_table(report);
  const bool ok = report.ok(vm.count("allow-unchecked") > 0);
  if (!ok) {
    std::cout << "check FAILED against " << baselines->source << "\n";
  }
  return ok ? kOk : kCheckFailed;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("cigl-run options");
  options.add_options()("help,h", "show this help")(
      "version", "print the version and build fingerprint")(
      "config,c", po::value<std::string>(), "experiment config (TOML)")(
      "set,s", po::value<std::vector<std::string>>()->composing(),
      "override a config value: section.key=value (repeatable)")(
      "output,o", po::value<std::string>(),
      "run folder (default: <experiment.output_dir>/<experiment.name>)")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(),
      "extra plugin folder, searched first (repeatable)")(
      "list-plugins", "list the plugins found and what they provide")(
      "describe", po::value<std::string>(),
      "show a component's parameters, e.g. method/static")(
      "inspect", "build model and method, print the per-layer table")(
      "format", po::value<std::string>()->default_value("text"),
      "output of --inspect: text or json")(
      "flops", po::value<std::string>()->default_value("plain"),
      "FLOPs and size convention of --inspect: plain, or micronet (the "
      "RigL paper's tables)");
  po::options_description matrix_options(
      "matrix runs (a config with a [matrix] table; see docs/matrix.md)");
  matrix_options.add_options()("jobs,j", po::value<int>()->default_value(1),
                               "cells run at once, each in its own process")(
      "list-cells", "print every cell: index, name, status, overrides")(
      "cell", po::value<int>(),
      "run only cell N in this process (what each job and Slurm task does)")(
      "threads", po::value<int>(),
      "LibTorch threads per cell when experiment.threads is 0 (default: "
      "cores / jobs)")("export",
                       po::value<std::vector<std::string>>()->multitoken(),
                       "csv [FILE]: write the results index as CSV (default "
                       "<root>/results.csv)")(
      "check", po::value<std::string>(),
      "compare every cell's metrics with a baselines file; runs the "
      "matrix first (resuming) unless --no-run")(
      "no-run", "with --check: check the existing index only")(
      "allow-unchecked", "with --check: cells no baseline covers pass")(
      "emit-slurm", po::value<std::string>()->implicit_value(""),
      "[FILE]: write an sbatch array script, one task per cell (default "
      "<root>/slurm.sbatch)");
  options.add(matrix_options);
  po::positional_options_description positional;
  positional.add("config", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv)
                  .options(options)
                  .positional(positional)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "error: " << e.what() << "\n(see cigl-run --help)\n";
    return kUsageError;
  }
  if (vm.count("help")) {
    std::cout << "usage: cigl-run --config exp.toml [--set key=value ...]\n\n"
              << options
              << "\nexit codes: 0 success, 2 usage or config "
                 "error, 1 runtime failure (a cell failed),\n3 --check "
                 "found a regression (or a cell not done or unchecked)\n";
    return kOk;
  }
  if (vm.count("version")) {
    std::cout << "cigl-run " << CIGL_VERSION_STRING << " (plugin API "
              << CIGL_PLUGIN_API_VERSION << ", " << CIGL_BUILD_FINGERPRINT
              << ")\n";
    return kOk;
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") {
    std::cerr << "error: --format must be text or json\n";
    return kUsageError;
  }
  const bool listing = vm.count("list-plugins") || vm.count("describe");
  if (!vm.count("config") && !listing) {
    std::cerr << "error: no config given (cigl-run --config exp.toml; see "
                 "--help)\n";
    return kUsageError;
  }

  // Declared outside the try: plugins stay loaded while an exception from
  // one of their objects is being reported.
  cigl::Registry registry;
  try {
    std::optional<cigl::ConfigDocument> document;
    std::vector<std::string> dirs;
    if (vm.count("plugin-path")) {
      dirs = vm["plugin-path"].as<std::vector<std::string>>();
    }
    if (vm.count("config")) {
      document =
          cigl::ConfigDocument::from_file(vm["config"].as<std::string>());
      if (vm.count("set")) {
        for (const auto& s : vm["set"].as<std::vector<std::string>>()) {
          document->apply_override(s);
        }
      }
      for (const auto& dir : document->plugin_paths()) dirs.push_back(dir);
    }
    const auto search_path = cigl::plugin_search_path(dirs);
    const auto load_errors = registry.load_directories(search_path);

    if (vm.count("list-plugins")) {
      list_plugins(registry, search_path);
      for (const auto& e : load_errors) std::cerr << "error: " << e << "\n";
      return load_errors.empty() ? kOk : kUsageError;
    }
    if (!load_errors.empty()) {
      for (const auto& e : load_errors) std::cerr << "error: " << e << "\n";
      std::cerr << "error: " << load_errors.size()
                << " plugin(s) failed to load; nothing was run\n";
      return kUsageError;
    }
    if (vm.count("describe")) {
      return describe(registry, vm["describe"].as<std::string>());
    }

    if (cigl::has_matrix(*document)) {
      return run_matrix_command(vm, *document, registry);
    }
    for (const char* name : kMatrixOptions) {
      if (vm.count(name) && !vm[name].defaulted()) {
        throw cigl::ConfigError(std::string("--") + name +
                                " needs a [matrix] table in the config");
      }
    }
    const cigl::ExperimentConfig config = document->resolve(registry);
    if (vm.count("inspect")) {
      auto report = cigl::inspect(
          config, registry,
          cigl::convention_from_name(vm["flops"].as<std::string>()));
      std::cout << (format == "json" ? cigl::inspect_json(report)
                                     : cigl::inspect_text(report));
      return kOk;
    }
    cigl::RunOptions run_options;
    if (vm.count("output"))
      run_options.run_dir = vm["output"].as<std::string>();
    run_options.progress_bar = isatty(STDOUT_FILENO) != 0;
    cigl::run_experiment(config, registry, run_options);
    return kOk;
  } catch (const cigl::ConfigError& e) {
    print_errors(e.what());
    return kUsageError;
  } catch (const std::exception& e) {
    print_errors(e.what());
    return kRuntimeError;
  } catch (...) {
    std::cerr << "error: unknown exception\n";
    return kRuntimeError;
  }
}
