// cigl-report: summarises finished run folders into report.md, report.csv
// and sparsity.svg. Exit codes: 0 success, 2 usage error, 1 failure (no
// finished run, an unreadable folder, a --by or --ignore key no run has).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "cigl/core/paired.hpp"
#include "cigl/core/report.hpp"
#include "cigl/error.hpp"

namespace po = boost::program_options;

namespace {

// --paired-a/--paired-b: the paired comparison across seeds
// (cigl/core/paired.hpp), written beside the report.
int write_paired_comparison(const po::variables_map& vm,
                            const std::vector<std::string>& runs,
                            const std::string& output) {
  if (!vm.count("paired-a") || !vm.count("paired-b")) {
    std::cerr << "error: --paired-a and --paired-b go together\n";
    return 2;
  }
  std::vector<std::string> metrics = {"ece", "nll", "accuracy"};
  if (vm.count("paired-metric")) {
    metrics = vm["paired-metric"].as<std::vector<std::string>>();
  }
  const auto comparison = cigl::compare_paired(
      runs, cigl::parse_selection(vm["paired-a"].as<std::string>()),
      cigl::parse_selection(vm["paired-b"].as<std::string>()), metrics);
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"paired.md",
                                            cigl::paired_markdown(comparison)},
        {"paired.csv", cigl::paired_csv(comparison)}}) {
    const auto path = std::filesystem::path(output) / name;
    const auto temp = path.string() + ".tmp";
    std::ofstream out(temp);
    out << text;
    if (!out.flush()) throw cigl::Error("cannot write " + temp);
    out.close();
    std::filesystem::rename(temp, path);
  }
  std::cout << comparison.rows.size() << " paired rows -> " << output
            << "/paired.md, paired.csv\n";
  return comparison.rows.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("cigl-report RUN_DIR... [options]");
  options.add_options()("help,h", "show this help")(
      "runs", po::value<std::vector<std::string>>()->composing(),
      "run folders or folders holding them (any depth)")(
      "by", po::value<std::vector<std::string>>()->composing(),
      "also show this config key as a column where all runs agree, e.g. "
      "model.plugin (repeatable)")(
      "ignore", po::value<std::vector<std::string>>()->composing(),
      "average over differences in this config key (or all keys under it, "
      "e.g. metrics) instead of grouping by it (repeatable)")(
      "output,o", po::value<std::string>(),
      "where to write the report (default: the first RUN_DIR)")(
      "paired-a", po::value<std::string>(),
      "with --paired-b: compare runs matching KEY=VALUE[,KEY=VALUE...] ...")(
      "paired-b", po::value<std::string>(),
      "... with these, paired by density and seed (paired.md, paired.csv)")(
      "paired-metric", po::value<std::vector<std::string>>()->composing(),
      "metrics of the paired comparison (default: ece, nll, accuracy)");
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
    std::cout
        << options
        << "\nGroups finished runs by method, sparsity and every other "
           "resolved config key\nwhose value differs between them (listed in "
           "the report), and reports the mean\nand standard deviation of every "
           "test metric over the runs of each group:\nruns in one group differ "
           "only in experiment.seed and the --ignore keys.\nA run counts when "
           "its status.json says done (or, without status.json, when\nit has "
           "metrics.json); the others are listed, not averaged.\n";
    return 0;
  }
  if (!vm.count("runs")) {
    std::cerr << "error: give at least one run folder (see --help)\n";
    return 2;
  }
  const auto runs = vm["runs"].as<std::vector<std::string>>();
  cigl::ReportOptions report_options;
  if (vm.count("by"))
    report_options.by = vm["by"].as<std::vector<std::string>>();
  if (vm.count("ignore")) {
    report_options.ignore = vm["ignore"].as<std::vector<std::string>>();
  }
  const std::string output =
      vm.count("output") ? vm["output"].as<std::string>() : runs.front();
  try {
    const auto report = cigl::build_report(runs, report_options);
    cigl::write_report(report, output);
    std::size_t n = 0;
    for (const auto& g : report.groups) n += g.runs.size();
    std::cout << n << " runs in " << report.groups.size()
              << " groups (by method, sparsity";
    for (const auto& k : report.keys) std::cout << ", " << k;
    std::cout << ") -> " << output << "/report.md, report.csv, sparsity.svg\n";
    for (const auto& r : report.unfinished) {
      std::cerr << "warning: not finished, not averaged: " << r << "\n";
    }
    if (vm.count("paired-a") || vm.count("paired-b")) {
      return write_paired_comparison(vm, runs, output);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
