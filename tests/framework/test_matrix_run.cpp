// A matrix's setup and the views of its index (matrix_run.cpp), with the
// index filled by hand: no cell runs here (test_matrix_run_cells.cpp
// runs them).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cigl/core/matrix_run.hpp"
#include "cigl/core/provenance.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

MatrixSetup setup_in(const test::TempDir& dir) {
  auto doc = ConfigDocument::from_string(R"([experiment]
name = "m"
[method]
plugin = "static"
[matrix]
"method.density" = [0.5, 0.1, 0.05]
"model.hidden" = [[300, 100]]
)",
                                         dir.file("m.toml"));
  return prepare_matrix(doc, dir.file("m.toml"), test::bundled_registry(),
                        dir.file("root"));
}

TEST(MatrixSetup, IdentitiesCarryValuesAndCodeVersions) {
  test::TempDir dir("matrix-setup");
  const auto setup = setup_in(dir);
  ASSERT_EQ(setup.identities.size(), 3u);
  EXPECT_EQ(setup.index_path(), dir.file("root") + "/results.sqlite");
  EXPECT_EQ(setup.cell_dir(1),
            dir.file("root") + "/cells/" + setup.matrix.cells[1].name);
  // The overrides column: numbers as numbers, arrays as their TOML text.
  const auto overrides = nlohmann::json::parse(setup.identities[1].overrides);
  EXPECT_EQ(overrides["method.density"].get<double>(), 0.1);
  EXPECT_EQ(overrides["model.hidden"], "[ 300, 100 ]");
  // The fingerprint covers the code: not the config's alone.
  EXPECT_EQ(setup.identities[1].fingerprint,
            config_fingerprint(
                setup.configs[1],
                code_versions(setup.configs[1], test::bundled_registry())));
  EXPECT_NE(setup.identities[1].fingerprint,
            config_fingerprint(setup.configs[1]));
  EXPECT_NE(setup.identities[0].fingerprint, setup.identities[1].fingerprint);
}

TEST(MatrixViews, StatusMetricsAndCsvFollowTheIndex) {
  test::TempDir dir("matrix-views");
  const auto setup = setup_in(dir);
  std::filesystem::create_directories(setup.root);
  ResultsIndex index(setup.index_path());
  index.add_missing(setup.identities);
  ASSERT_TRUE(index.claim(setup.identities[0], 1, "host"));
  index.finish(0, {{"accuracy", 0.1 + 0.2}, {"ece", 1e-300}}, "run0", 12.5);
  ASSERT_TRUE(index.claim(setup.identities[1], 1, "host"));
  index.fail(1, "diverged, \"badly\"", 3);
  // Cell 2 ran another config (or other code): stale, its metrics hidden.
  CellIdentity other = setup.identities[2];
  other.fingerprint = "another";
  ASSERT_TRUE(index.claim(other, 1, "host"));
  index.finish(2, {{"accuracy", 0.9}}, "run2", 1);

  const auto results = cell_results(setup, &index);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status, "done");
  EXPECT_EQ(results[0].metrics.size(), 2u);
  EXPECT_EQ(results[1].status, "failed");
  EXPECT_EQ(results[1].error, "diverged, \"badly\"");
  EXPECT_EQ(results[2].status, "stale");
  EXPECT_TRUE(results[2].metrics.empty());
  EXPECT_EQ(cell_results(setup, nullptr)[0].status, "missing");

  const std::string table = cells_table(setup, &index);
  const auto line = table.find("\n1 ");
  ASSERT_NE(line, std::string::npos) << table;
  const std::string row1 =
      table.substr(line + 1, table.find('\n', line + 1) - line);
  EXPECT_NE(row1.find(setup.matrix.cells[1].name), std::string::npos) << table;
  EXPECT_NE(row1.find(" failed "), std::string::npos) << table;

  const std::string csv = results_csv(setup, index);
  std::vector<std::string> lines;
  std::stringstream in(csv);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u) << csv;
  EXPECT_EQ(lines[0],
            "index,name,status,method.density,model.hidden,accuracy,ece,"
            "seconds,attempts,started_at,finished_at,host,run_dir,error");
  // Shortest round-trip numbers; the array quoted for its comma.
  EXPECT_EQ(lines[1].rfind("0," + setup.matrix.cells[0].name +
                               ",done,0.5,\"[ 300, 100 ]\","
                               "0.30000000000000004,1e-300,12.5,1,",
                           0),
            0u)
      << lines[1];
  EXPECT_NE(lines[2].find(",\"diverged, \"\"badly\"\"\""), std::string::npos)
      << lines[2];
  EXPECT_EQ(lines[3].find("0.9"), std::string::npos) << "stale metrics shown";
}

}  // namespace
}  // namespace cigl
