// cigl-run: trains, evaluates and reports an experiment from a TOML config.
// Exit codes: 0 success, 1 runtime failure (for a matrix: a cell failed
// or is still running elsewhere), 2 usage or config error (nothing ran), 3
// --check found a regression or a cell not done or not covered, 128 + N
// stopped by signal N (130 SIGINT, 138 SIGUSR1, 143 SIGTERM) after writing
// a checkpoint.
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
#include "cigl/core/distributed.hpp"
#include "cigl/core/files.hpp"
#include "cigl/core/launch.hpp"
#include "cigl/core/matrix.hpp"
#include "cigl/core/matrix_run.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/run.hpp"
#include "cigl/core/signals.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"

namespace po = boost::program_options;

namespace {

constexpr int kOk = 0;
constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;
constexpr int kCheckFailed = 3;
constexpr int kSignalBase = 128;  // + the signal's number

// "rank 1: " in front of the errors of a data-parallel run's other ranks.
std::string rank_prefix;

void print_errors(const std::string& message) {
  // One "error:" line per problem, so each can be read (and grepped) alone.
  std::size_t begin = 0;
  while (begin <= message.size()) {
    auto end = message.find('\n', begin);
    if (end == std::string::npos) end = message.size();
    std::cerr << "error: " << rank_prefix << message.substr(begin, end - begin)
              << "\n";
    begin = end + 1;
  }
}

int cores() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

/// This process as one rank of a data-parallel run: connects to the
/// others with the config's [distributed] settings.
std::shared_ptr<cigl::Communicator> connect(
    const cigl::RankEnvironment& env, const cigl::ExperimentConfig& config) {
  cigl::check_world_size(config, env.world_size);
  cigl::CommunicatorOptions options;
  options.backend = config.distributed.string("backend");
  options.timeout_seconds = config.distributed.number("timeout_seconds");
  const std::string device = config.experiment.string("device");
  options.cuda =
      device == "cuda" || (device == "auto" && torch::cuda::is_available());
  return cigl::connect_ranks(env, options);
}

/// `--nproc N`: this same command line, minus --nproc, as N ranks.
int launch(int argc, char** argv, int nproc,
           const cigl::ExperimentConfig& config) {
  cigl::LaunchOptions options;
  options.executable = std::filesystem::read_symlink("/proc/self/exe").string();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--nproc") {
      ++i;  // and its value
    } else if (arg.rfind("--nproc=", 0) != 0) {
      options.args.push_back(arg);
    }
  }
  cigl::check_world_size(config, nproc);  // once, before any rank starts
  options.nproc = nproc;
  // The cores shared out between the ranks, unless the config says.
  if (config.experiment.integer("threads") == 0) {
    options.threads_per_rank = std::max(1, cores() / nproc);
  }
  return cigl::launch_local_ranks(options);
}

// Folders and files are printed as they are loaded, flushed: a library
// whose constructor hangs or kills the process is the last file named.
std::vector<std::string> load_and_list(
    cigl::Registry& registry, const std::vector<std::string>& folders) {
  std::cout << "plugin folders (most specific first):\n";
  for (const auto& dir : folders) std::cout << "  " << dir << "\n";
  std::cout << "\nplugin files, in load order:\n" << std::flush;
  using Step = cigl::Registry::LoadStep;
  return registry.load_directories(
      folders, [](Step step, const std::string& file) {
        if (step == Step::start) {
          std::cout << "  " << file << std::flush;
        } else {
          std::cout << (step == Step::loaded ? "  ok\n" : "  FAILED\n");
        }
      });
}

void list_plugins(const cigl::Registry& registry) {
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

void print_params(const std::vector<cigl::ParamSpec>& params) {
  if (params.empty()) std::cout << "  (no parameters)\n";
  for (const auto& p : params) {
    std::cout << "  " << p.name << " (" << cigl::type_name(p.type)
              << ", default " << cigl::to_string(p.default_value);
    auto constraint = p.constraint_text();
    if (!constraint.empty()) std::cout << ", " << constraint;
    std::cout << ")\n      " << p.doc << "\n";
  }
}

int describe(const cigl::Registry& registry, const std::string& what) {
  // The runner's own sections.
  const std::pair<const char*, const std::vector<cigl::ParamSpec>&> core[] = {
      {"experiment", cigl::experiment_specs()},
      {"training", cigl::training_specs()},
      {"averaging", cigl::averaging_specs()},
      {"distributed", cigl::distributed_specs()}};
  for (const auto& [section, specs] : core) {
    if (what != section) continue;
    std::cout << "[" << section << "] (cigl-run's own section)\n\n";
    print_params(specs);
    return kOk;
  }
  auto slash = what.find('/');
  auto kind = cigl::kind_from_name(what.substr(0, slash));
  if (slash == std::string::npos || !kind) {
    std::cerr << "error: --describe takes kind/name, e.g. method/static "
                 "(kinds:";
    for (cigl::Kind k : cigl::all_kinds()) {
      std::cerr << (k == cigl::all_kinds().front() ? " " : ", ")
                << cigl::kind_name(k);
    }
    std::cerr << "), or a section: experiment, training, averaging, "
                 "distributed\n";
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
  print_params(c->spec.params);
  return kOk;
}

namespace fs = std::filesystem;

// Options of a single run, not of a matrix (which resumes by itself).
const char* const kRunOptions[] = {"resume", "overwrite", "force", "evaluate"};

// Options that only mean something with a [matrix] table.
const char* const kMatrixOptions[] = {
    "jobs",  "cell",   "threads",         "list-cells", "export",
    "check", "no-run", "allow-unchecked", "emit-slurm"};

int run_matrix_command(const po::variables_map& vm,
                       const cigl::ConfigDocument& document,
                       const cigl::Registry& registry, int argc, char** argv,
                       const cigl::RankEnvironment& rank_env) {
  const int nproc = vm.count("nproc") ? vm["nproc"].as<int>() : 1;
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
    if (nproc > 1) return launch(argc, argv, nproc, setup.configs[cell]);
    std::shared_ptr<cigl::Communicator> ranks;
    if (rank_env.world_size > 1) ranks = connect(rank_env, setup.configs[cell]);
    cigl::run_cell(setup, static_cast<std::size_t>(cell), registry, threads,
                   nullptr, ranks);
    return kOk;
  }
  if (rank_env.world_size > 1 && !vm.count("list-cells") &&
      !vm.count("export") && !vm.count("emit-slurm")) {
    throw cigl::ConfigError(
        "under " + rank_env.launcher +
        " (several ranks), a matrix runs one cell per job: give --cell N "
        "(--emit-slurm writes such jobs)");
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
  // Each cell of a local matrix as nproc ranks of its own.
  if (nproc > 1) {
    child_args.insert(child_args.end(), {"--nproc", std::to_string(nproc)});
  }

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
    cigl::write_file_atomic(file, cigl::slurm_script(job, options));
    const auto ranks = options.nodes * options.tasks_per_node;
    std::cout << "wrote " << file << ": an array of " << job.cells
              << " jobs, one per cell";
    if (ranks > 1) {
      std::cout << ", each " << ranks << " ranks (" << options.nodes
                << " node(s) x " << options.tasks_per_node << " tasks)";
    }
    std::cout << "\nsubmit with: sbatch " << file << "\n";
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
    cigl::write_file_atomic(file, cigl::results_csv(setup, index));
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
      options.threads =
          std::max(1, cores() / std::max(1, options.jobs * nproc));
    }
    unfinished = cigl::run_matrix(setup, options);
    if (const int signal = cigl::stop_signal()) {
      std::cerr << "cigl-run: matrix interrupted by "
                << cigl::signal_name(signal)
                << "; running cells wrote checkpoints: run the same command "
                   "again to continue\n";
      return kSignalBase + signal;
    }
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
  cigl::follow_launcher();  // a rank of cigl-run --nproc dies with it
  po::options_description options("cigl-run options");
  options.add_options()("help,h", "show this help")(
      "version", "print the version and build fingerprint")(
      "config,c", po::value<std::string>(), "experiment config (TOML)")(
      "set,s", po::value<std::vector<std::string>>()->composing(),
      "override a config value: section.key=value (repeatable)")(
      "output,o", po::value<std::string>(),
      "run folder (default: <experiment.output_dir>/<experiment.name>)")(
      "allow-defaults",
      "run a config that sets none of [data], [model] and [method] (the "
      "defaults: fashion_mnist, mlp, dense)")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(),
      "extra plugin folder, searched first (repeatable)")(
      "list-plugins", "list the plugins found and what they provide")(
      "describe", po::value<std::string>(),
      "show a component's parameters, e.g. method/static, or a section's: "
      "experiment, training, optimizer")(
      "inspect", "build model and method, print the per-layer table")(
      "format", po::value<std::string>()->default_value("text"),
      "output of --inspect: text or json")(
      "flops", po::value<std::string>()->default_value("plain"),
      "FLOPs and size convention of --inspect: plain, or micronet (the "
      "RigL paper's tables)")(
      "resume", po::value<std::string>()->implicit_value(""),
      "[RUN_DIR]: continue the run in RUN_DIR from its checkpoint, with the "
      "config.toml saved there; with --config and no RUN_DIR: continue that "
      "config's run if interrupted, else start it")(
      "overwrite",
      "replace the run the folder holds (its files are removed first)")(
      "force", "with --resume: accept a checkpoint of another build")(
      "evaluate", po::value<std::string>(),
      "RUN_DIR: evaluate the run's model.pt on its test data (or on data "
      "set with --set data...), into a new folder (--output, default "
      "RUN_DIR.eval-<dataset>)")(
      "nproc", po::value<int>(),
      "N: train data-parallel as N ranks on this machine, one process each "
      "(under torchrun or srun the ranks come from the environment; see "
      "docs/distributed.md)");
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
              << "\nexit codes: 0 success, 1 runtime failure (a cell failed), "
                 "2 usage or config\nerror (nothing ran), 3 --check found a "
                 "regression (or a cell not done or\nunchecked), 128+N "
                 "stopped by signal N after a checkpoint (130 SIGINT,\n138 "
                 "SIGUSR1, 143 SIGTERM)\n";
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
  // Where this process stands among the ranks of a data-parallel job
  // (torchrun's or Slurm's environment, or that of cigl-run --nproc).
  cigl::RankEnvironment rank_env;
  try {
    rank_env = cigl::rank_environment(cigl::process_environment());
  } catch (const cigl::ConfigError& e) {
    print_errors(e.what());
    return kUsageError;
  }
  if (rank_env.rank > 0)
    rank_prefix = "rank " + std::to_string(rank_env.rank) + ": ";
  if (vm.count("nproc")) {
    const int nproc = vm["nproc"].as<int>();
    if (nproc < 1) {
      std::cerr << "error: --nproc must be at least 1\n";
      return kUsageError;
    }
    if (rank_env.world_size > 1) {
      std::cerr << "error: --nproc starts the ranks itself; under "
                << rank_env.launcher
                << ", which started this one, leave it out\n";
      return kUsageError;
    }
  }
  const bool several = rank_env.world_size > 1 ||
                       (vm.count("nproc") && vm["nproc"].as<int>() > 1);
  if (several && (listing || vm.count("evaluate") ||
                  (vm.count("inspect") && !vm.count("cell")))) {
    std::cerr << "error: " << rank_prefix
              << "--nproc and several ranks are for training; "
              << (vm.count("evaluate") ? "--evaluate" : "this command")
              << " runs in one process\n";
    return kUsageError;
  }
  // --resume RUN_DIR and --evaluate RUN_DIR read the run's own config.toml.
  std::string run_folder_arg;
  if (vm.count("resume") && !vm["resume"].as<std::string>().empty()) {
    run_folder_arg = vm["resume"].as<std::string>();
  }
  if (vm.count("evaluate")) {
    if (!run_folder_arg.empty()) {
      std::cerr << "error: --evaluate and --resume RUN_DIR exclude each "
                   "other\n";
      return kUsageError;
    }
    run_folder_arg = vm["evaluate"].as<std::string>();
  }
  if (!run_folder_arg.empty()) {
    if (vm.count("config")) {
      std::cerr << "error: "
                << (vm.count("evaluate") ? "--evaluate" : "--resume")
                << " RUN_DIR uses the config.toml saved in RUN_DIR; leave out "
                   "--config\n";
      return kUsageError;
    }
    if (vm.count("resume") && (vm.count("set") || vm.count("output"))) {
      std::cerr << "error: --resume RUN_DIR continues the run as it was "
                   "configured; --set and --output do not apply\n";
      return kUsageError;
    }
    const fs::path saved = fs::path(run_folder_arg) / "config.toml";
    std::error_code ec;
    if (!fs::is_regular_file(saved, ec)) {
      std::cerr << "error: " << run_folder_arg
                << " is not a run folder (no config.toml)\n";
      return kUsageError;
    }
    vm.insert(
        {"config", po::variable_value(boost::any(saved.string()), false)});
  }
  if (!vm.count("config") && !listing) {
    std::cerr << "error: no config given (cigl-run --config exp.toml; see "
                 "--help)\n";
    return kUsageError;
  }
  if (vm.count("force") && !vm.count("resume")) {
    std::cerr << "error: --force goes with --resume\n";
    return kUsageError;
  }
  if (vm.count("overwrite") && vm.count("resume")) {
    std::cerr << "error: --overwrite starts over; --resume continues: choose "
                 "one\n";
    return kUsageError;
  }
  cigl::install_stop_handlers();

  // Declared outside the try: plugins stay loaded while an exception from
  // one of their objects is being reported.
  cigl::Registry registry;
  try {
    std::optional<cigl::ConfigDocument> document;
    std::vector<std::string> cli_dirs, config_dirs;
    if (vm.count("plugin-path")) {
      cli_dirs = vm["plugin-path"].as<std::vector<std::string>>();
    }
    if (vm.count("config")) {
      document =
          cigl::ConfigDocument::from_file(vm["config"].as<std::string>());
      if (vm.count("set")) {
        for (const auto& s : vm["set"].as<std::vector<std::string>>()) {
          document->apply_override(s);
        }
      }
      config_dirs = document->plugin_paths();
    }
    const auto search = cigl::plugin_search_path(cli_dirs, config_dirs);
    for (const auto& w : search.warnings) std::cerr << "warning: " << w << "\n";

    if (vm.count("list-plugins")) {
      const auto load_errors = load_and_list(registry, search.folders);
      list_plugins(registry);
      for (const auto& e : load_errors) std::cerr << "error: " << e << "\n";
      return load_errors.empty() ? kOk : kUsageError;
    }
    const auto load_errors = registry.load_directories(search.folders);
    if (!load_errors.empty()) {
      for (const auto& e : load_errors) std::cerr << "error: " << e << "\n";
      std::cerr << "error: " << load_errors.size()
                << " plugin(s) failed to load; nothing was run\n";
      return kUsageError;
    }
    if (vm.count("describe")) {
      return describe(registry, vm["describe"].as<std::string>());
    }

    if (vm.count("output") && vm["output"].as<std::string>().empty()) {
      throw cigl::ConfigError("--output is empty; give the run folder");
    }
    // An empty, comment-only or truncated file would otherwise run the
    // whole default experiment.
    if (!vm.count("allow-defaults") && !cigl::has_matrix(*document) &&
        !document->has_table("data") && !document->has_table("model") &&
        !document->has_table("method")) {
      throw cigl::ConfigError(
          vm["config"].as<std::string>() +
          ": sets none of [data], [model] and [method] (empty, comments "
          "only, or cut short?); pass --allow-defaults to run the defaults");
    }
    if (cigl::has_matrix(*document)) {
      for (const char* name : kRunOptions) {
        if (vm.count(name)) {
          throw cigl::ConfigError(
              std::string("--") + name +
              " is for a single run; a matrix resumes its cells by itself "
              "when run again");
        }
      }
      return run_matrix_command(vm, *document, registry, argc, argv, rank_env);
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
    if (vm.count("output")) {
      run_options.run_dir = vm["output"].as<std::string>();
      if (run_options.run_dir.empty()) {
        throw cigl::ConfigError("--output is empty; give a folder");
      }
    }
    run_options.progress_bar = isatty(STDOUT_FILENO) != 0;
    run_options.force = vm.count("force") > 0;
    if (vm.count("overwrite"))
      run_options.existing = cigl::ExistingRun::overwrite;
    if (vm.count("evaluate")) {
      const fs::path model = fs::path(run_folder_arg) / "model.pt";
      std::error_code ec;
      if (!fs::is_regular_file(model, ec)) {
        throw cigl::ConfigError(run_folder_arg +
                                " has no model.pt: only a finished run can be "
                                "evaluated");
      }
      if (run_options.run_dir.empty()) {
        fs::path dir = fs::path(run_folder_arg).lexically_normal();
        if (dir.filename().empty()) dir = dir.parent_path();
        run_options.run_dir = dir.string() + ".eval-" + config.data.plugin;
      }
      cigl::evaluate_run(model.string(), config, registry, run_options);
      return kOk;
    }
    if (vm.count("resume")) {
      if (run_folder_arg.empty()) {
        run_options.existing = cigl::ExistingRun::resume_or_start;
      } else {
        run_options.existing = cigl::ExistingRun::resume;
        run_options.run_dir = run_folder_arg;
      }
    }
    if (vm.count("nproc") && vm["nproc"].as<int>() > 1) {
      return launch(argc, argv, vm["nproc"].as<int>(), config);
    }
    if (rank_env.world_size > 1) run_options.ranks = connect(rank_env, config);
    cigl::run_experiment(config, registry, run_options);
    return kOk;
  } catch (const cigl::FollowingRankStopped& e) {
    return e.exit_code();  // rank 0 has said why
  } catch (const cigl::Interrupted& e) {
    if (rank_env.rank == 0) std::cerr << "cigl-run: " << e.what() << "\n";
    return kSignalBase + e.signal();
  } catch (const cigl::ConfigError& e) {
    print_errors(e.what());
    return kUsageError;
  } catch (const cigl::Error& e) {
    print_errors(e.what());
    return kRuntimeError;
  } catch (const std::exception& e) {
    // LibTorch's own errors span many lines (a backtrace): the first is
    // the message.
    std::cerr << "error: " << cigl::one_line(e) << "\n";
    return kRuntimeError;
  } catch (...) {
    std::cerr << "error: unknown exception\n";
    return kRuntimeError;
  }
}
