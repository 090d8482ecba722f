// Matrix expansion and cell names (matrix.cpp), and the Slurm script.
#include <gtest/gtest.h>

#include "cigl/core/matrix.hpp"
#include "cigl/error.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::vector<std::string> names(const Matrix& m) {
  std::vector<std::string> out;
  for (const auto& c : m.cells) out.push_back(c.name);
  return out;
}

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(MatrixExpansion, CrossProductInFileOrderLastKeyFastest) {
  auto doc = ConfigDocument::from_string(R"(
[matrix]
"method.plugin" = ["rigl", "cigl"]
"method.density" = [0.05, 0.1]
experiment.seed = [0, 1]
)",
                                         "m.toml");
  Matrix m = expand_matrix(doc);
  EXPECT_EQ(m.keys, (std::vector<std::string>{"method.plugin", "method.density",
                                              "experiment.seed"}));
  EXPECT_EQ(names(m),
            (std::vector<std::string>{"000-rigl-d0.05-s0", "001-rigl-d0.05-s1",
                                      "002-rigl-d0.1-s0", "003-rigl-d0.1-s1",
                                      "004-cigl-d0.05-s0", "005-cigl-d0.05-s1",
                                      "006-cigl-d0.1-s0", "007-cigl-d0.1-s1"}));
  EXPECT_EQ(m.cells[6].overrides_text(),
            "method.plugin=\"cigl\" method.density=0.1 experiment.seed=0");
  EXPECT_EQ(m.cells[6].origins[1], "m.toml:4:1");  // its key
}

TEST(MatrixExpansion, NamesAreSanitisedAndWidenWithTheCount) {
  MatrixValues values = {
      {"optimizer.weight_decay", MatrixValue{"0.0005", "0.0005", true}},
      {"optimizer.lr", MatrixValue{"0.1", "0.1", true}},
      {"model.hidden", MatrixValue{"[300, 100]", "[300, 100]"}},
      {"data.root", MatrixValue{"\"/a b/c\"", "/a b/c", false, true}}};
  EXPECT_EQ(cell_name(7, 20, values), "007-wd0.0005-lr0.1-h_300_100-a_b_c");
  EXPECT_EQ(cell_name(7, 20000, {}), "00007");
}

TEST(MatrixExpansion, ExcludeRemovesMatchingCellsAndIncludeAddsCells) {
  auto doc = ConfigDocument::from_string(R"(
[matrix]
"method.plugin" = ["static", "rigl"]
"method.density" = [0.05, 0.2]
exclude = [{ "method.plugin" = "rigl", "method.density" = 0.2 }]
include = [{ "method.plugin" = "dense" }]
)",
                                         "m.toml");
  Matrix m = expand_matrix(doc);
  EXPECT_EQ(m.excluded, 1u);
  EXPECT_EQ(names(m),
            (std::vector<std::string>{"000-static-d0.05", "001-static-d0.2",
                                      "002-rigl-d0.05", "003-dense"}));
  EXPECT_EQ(m.cells[3].find("method.density"), nullptr);
}

TEST(MatrixExpansion, MalformedTablesAreErrorsWithFileAndLine) {
  auto expand = [](const std::string& text) {
    return config_error(
        [&] { expand_matrix(ConfigDocument::from_string(text, "m.toml")); });
  };
  EXPECT_EQ(expand("[matrix]\n\"method.density\" = 0.1\n"),
            "m.toml:2:20: matrix.method.density: expected a list of values, "
            "e.g. [0.05, 0.1]");
  EXPECT_EQ(expand("[matrix]\nseed = [0, 1]\n"),
            "m.toml:2:8: matrix.seed: a matrix key is a config key path, "
            "section.key, e.g. \"method.density\"");
  EXPECT_EQ(expand("[matrix]\n\"method.density\" = [0.1, 0.1]\n"),
            "m.toml:2:26: matrix.method.density: 0.1 appears twice in the "
            "list");
  EXPECT_EQ(expand("[matrix]\n\"method.density\" = [0.1]\n"
                   "exclude = [{ \"method.densty\" = 0.1 }]\n"),
            "m.toml:3:14: matrix.exclude[0]: 'method.densty' is not a matrix "
            "key (did you mean 'method.density'?)");
  EXPECT_EQ(expand("[matrix]\n\"method.density\" = [0.1]\n"
                   "exclude = [{ \"method.density\" = 0.3 }]\n"),
            "m.toml:3:33: matrix.exclude[0]: 0.3 is not one of the values of "
            "method.density");
}

// 40 keys of two values each would be 10^12 cells (hours, or a product
// that overflows): refused before any cell is built.
TEST(MatrixExpansion, TooManyCombinationsAreRefusedUpFront) {
  std::string text = "[matrix]\n";
  for (int i = 0; i < 40; ++i) {
    text += "\"experiment.k" + std::to_string(i) + "\" = [1, 2]\n";
  }
  auto doc = ConfigDocument::from_string(text, "m.toml");
  EXPECT_EQ(config_error([&] { expand_matrix(doc); }),
            "m.toml:1:1: matrix: more than 100000 combinations of its 40 "
            "keys; split it into several matrices");
}

TEST(MatrixExpansion, BadKeyOrValueIsReportedLikeABadSetAtItsLine) {
  auto& registry = test::bundled_registry();
  auto doc = ConfigDocument::from_string(R"([method]
plugin = "static"

[matrix]
"method.densty" = [0.1, 0.2]
)",
                                         "m.toml");
  Matrix m = expand_matrix(doc);
  EXPECT_EQ(config_error([&] { resolve_cells(doc, m, registry); }),
            "m.toml:5:1: method.densty: unknown key (did you mean "
            "'density'?)");

  // A value only some cells reject names those cells.
  auto doc2 = ConfigDocument::from_string(R"([method]
plugin = "static"

[matrix]
"method.density" = [0.1, 1.5]
)",
                                          "m.toml");
  EXPECT_EQ(
      config_error([&] { resolve_cells(doc2, expand_matrix(doc2), registry); }),
      "m.toml:5:1: method.density: 1.5 is out of range (expected (0, "
      "1]) (in cell 001-d1.5)");
}

TEST(MatrixExpansion, CellsGetTheirNameAndResolveLikeSetOverrides) {
  auto& registry = test::bundled_registry();
  auto doc = ConfigDocument::from_string(R"([experiment]
name = "study"
[matrix]
"method.plugin" = ["static", "rigl"]
"method.density" = [0.25]
)",
                                         "m.toml");
  Matrix m = expand_matrix(doc);
  auto configs = resolve_cells(doc, m, registry);
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_EQ(configs[1].experiment.string("name"), "001-rigl-d0.25");
  EXPECT_EQ(configs[1].method.plugin, "rigl");
  EXPECT_DOUBLE_EQ(configs[1].method.params.number("density"), 0.25);
  EXPECT_NE(config_fingerprint(configs[0]), config_fingerprint(configs[1]));
  // The same config read again has the same fingerprint.
  auto again = resolve_cells(doc, m, registry);
  EXPECT_EQ(config_fingerprint(configs[1]), config_fingerprint(again[1]));
  // Other code (a plugin's or cigl's version) is another fingerprint.
  EXPECT_NE(
      config_fingerprint(configs[1], "cigl 0.1.0\nmethod/rigl rigl 1.0.0"),
      config_fingerprint(configs[1], "cigl 0.1.0\nmethod/rigl rigl 1.0.1"));
}

// ---------------------------------------------------------------- slurm

TEST(SlurmScript, ArrayCoversEveryCellAndEachTaskRunsItsCell) {
  auto doc = ConfigDocument::from_string(R"(
[slurm]
partition = "gpu"
time = "02:00:00"
gpus = 1
cpus_per_task = 8
max_parallel = 4
setup = ["module load cuda"]
)",
                                         "m.toml");
  SlurmJob job;
  job.job_name = "study";
  job.cells = 15;
  job.matrix_root = "/data/runs/study";
  job.workdir = "/home/me/exp";
  job.command = {"/opt/cigl/bin/cigl-run", "--config", "/home/me/exp/m.toml",
                 "--set", "training.epochs=5"};
  const std::string script = slurm_script(job, slurm_options(doc));
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u);
  for (const char* line :
       {"#SBATCH --array=0-14%4\n", "#SBATCH --partition=gpu\n",
        "#SBATCH --time=02:00:00\n", "#SBATCH --gpus=1\n",
        "#SBATCH --cpus-per-task=8\n",
        "#SBATCH --output=/data/runs/study/slurm/%A_%a.out\n",
        "#SBATCH --signal=B:USR1@300\n", "#SBATCH --requeue\n",
        "cd /home/me/exp\nmodule load cuda\n",
        "/opt/cigl/bin/cigl-run --config /home/me/exp/m.toml --set "
        "training.epochs=5 \\\n  --threads \"${SLURM_CPUS_PER_TASK:-0}\" "
        "--cell \"$SLURM_ARRAY_TASK_ID\" &\n"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line << "\n" << script;
  }
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");

  // Without the warning signal the task is the command itself.
  auto plain = slurm_options(
      ConfigDocument::from_string("[slurm]\nsignal_seconds = 0\n", "m.toml"));
  const std::string exec_script = slurm_script(job, plain);
  EXPECT_EQ(exec_script.find("--signal"), std::string::npos);
  EXPECT_NE(exec_script.find("exec /opt/cigl/bin/cigl-run"), std::string::npos);

  EXPECT_EQ(config_error([] {
              slurm_options(ConfigDocument::from_string(
                  "[slurm]\npartiton = \"gpu\"\n", "m.toml"));
            }),
            "m.toml:2:1: slurm.partiton: unknown key (did you mean "
            "'partition'?)");
}

// Several ranks per cell: the job asks for nodes x tasks per node and srun
// starts one cigl-run per task, ending them all when one fails.
TEST(SlurmScript, ACellOfSeveralTasksRunsUnderSrun) {
  auto doc = ConfigDocument::from_string(R"(
[slurm]
nodes = 2
tasks_per_node = 4
gpus_per_node = 4
)",
                                         "m.toml");
  SlurmJob job;
  job.job_name = "big";
  job.cells = 2;
  job.matrix_root = "/data/runs/big";
  job.workdir = "/home/me/exp";
  job.command = {"/opt/cigl/bin/cigl-run", "--config", "/home/me/exp/m.toml"};
  const std::string script = slurm_script(job, slurm_options(doc));
  for (const char* line :
       {"#SBATCH --array=0-1\n", "#SBATCH --nodes=2\n",
        "#SBATCH --ntasks-per-node=4\n", "#SBATCH --gpus-per-node=4\n",
        "\nsrun --kill-on-bad-exit=1 /opt/cigl/bin/cigl-run --config "
        "/home/me/exp/m.toml \\\n  --threads \"${SLURM_CPUS_PER_TASK:-0}\" "
        "--cell \"$SLURM_ARRAY_TASK_ID\" &\n"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line << "\n" << script;
  }
  // One task per cell by default: no srun, no task counts.
  const std::string single = slurm_script(job, SlurmOptions{});
  EXPECT_EQ(single.find("srun"), std::string::npos);
  EXPECT_EQ(single.find("--ntasks-per-node"), std::string::npos);
  EXPECT_EQ(config_error([] {
              slurm_options(ConfigDocument::from_string("[slurm]\nnodes = 0\n",
                                                        "m.toml"));
            }),
            "m.toml:2:9: slurm.nodes: expected an integer >= 1");
}

// The script as Slurm runs it: the warning signal reaches the batch shell,
// which passes it on to the cell and, when the cell stops with a
// checkpoint (exit 128 + signal), requeues its own array task.
TEST(SlurmScript, AWarningSignalStopsTheCellAndRequeuesTheTask) {
  test::TempDir dir("slurm");
  // A stand-in cell: waits, and exits 138 on SIGUSR1 as cigl-run does.
  SlurmJob job;
  job.job_name = "study";
  job.cells = 4;
  job.matrix_root = dir.path().string();
  job.workdir = dir.path().string();
  job.command = {"/bin/sh", "-c",
                 "trap 'exit 138' USR1; echo started > cell.started; "
                 "while :; do sleep 0.05; done",
                 "cell"};
  test::write_file(dir.file("job.sbatch"), slurm_script(job, SlurmOptions{}));
  std::filesystem::create_directories(dir.path() / "bin");
  test::write_file(
      dir.file("bin/scontrol"),
      "#!/bin/sh\necho \"$@\" >> " + dir.file("scontrol.log") + "\n");
  std::filesystem::permissions(dir.file("bin/scontrol"),
                               std::filesystem::perms::owner_all);
  // The batch shell itself in the background, so $! is its pid.
  const std::string command =
      "cd " + dir.path().string() + " && export PATH=" + dir.file("bin") +
      ":$PATH SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=3; "
      "bash job.sbatch & job=$!; "
      "while [ ! -f cell.started ]; do sleep 0.05; done; "
      "kill -USR1 $job; wait $job; echo \"exit $?\"";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[256] = {};
  std::string output;
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    output.append(buffer, n);
  }
  pclose(pipe);
  EXPECT_NE(output.find("exit 138"), std::string::npos) << output;
  EXPECT_EQ(test::read_file(dir.file("scontrol.log")), "requeue 77_3\n");
}

}  // namespace
}  // namespace cigl
