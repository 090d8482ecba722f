// cigl-run: trains, evaluates and reports an experiment from a TOML config.
// Exit codes: 0 success, 2 usage or config error, 1 runtime failure.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/run.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"

namespace po = boost::program_options;

namespace {

constexpr int kOk = 0;
constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;

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
  for (int k = 0; k < 6; ++k) {
    auto kind = static_cast<cigl::Kind>(k);
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
                 "(kinds: method, model, dataset, metric, distribution, "
                 "schedule)\n";
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
      "output of --inspect: text or json");
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
                 "error, 1 runtime failure\n";
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

    const cigl::ExperimentConfig config = document->resolve(registry);
    if (vm.count("inspect")) {
      auto report = cigl::inspect(config, registry);
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
