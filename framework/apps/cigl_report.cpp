// cigl-report: summarises run folders into report.md, report.csv and
// sparsity.svg. Exit codes: 0 success, 2 usage error, 1 failure.
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cigl/core/report.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  po::options_description options("cigl-report RUN_DIR... [options]");
  options.add_options()("help,h", "show this help")(
      "runs", po::value<std::vector<std::string>>()->composing(),
      "run folders or folders holding them (any depth)")(
      "by", po::value<std::vector<std::string>>()->composing(),
      "also group by this config key, e.g. model.plugin (repeatable)")(
      "output,o", po::value<std::string>(),
      "where to write the report (default: the first RUN_DIR)");
  po::positional_options_description positional;
  positional.add("runs", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv)
                  .options(options)
                  .positional(positional)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options
              << "\nGroups runs by method and density (and --by "
                 "keys); reports mean and standard deviation over "
                 "seeds of every test metric.\n";
    return 0;
  }
  if (!vm.count("runs")) {
    std::cerr << "error: give at least one run folder (see --help)\n";
    return 2;
  }
  const auto runs = vm["runs"].as<std::vector<std::string>>();
  std::vector<std::string> by;
  if (vm.count("by")) by = vm["by"].as<std::vector<std::string>>();
  const std::string output =
      vm.count("output") ? vm["output"].as<std::string>() : runs.front();
  try {
    auto report = cigl::build_report(runs, by);
    cigl::write_report(report, output);
    std::size_t n = 0;
    for (const auto& g : report.groups) n += g.runs.size();
    std::cout << n << " runs in " << report.groups.size() << " groups -> "
              << output << "/report.md, report.csv, sparsity.svg\n";
    for (const auto& r : report.incomplete) {
      std::cerr << "warning: incomplete run " << r << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
