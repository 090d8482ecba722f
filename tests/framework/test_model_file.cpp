// model.pt: what a finished run leaves for use outside cigl. Read back in
// C++, loaded by Python's torch into a plain PyTorch model that reproduces
// the run's predictions, and used again by --evaluate and init_from.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "cigl/core/model_file.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/error.hpp"
#include "cigl/model.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

namespace fs = std::filesystem;
using test::run_cigl;

const char* const kConfig = R"(
[experiment]
name = "model"
threads = 1
save_predictions = true
[training]
epochs = 1
batch_size = 100
[data]
plugin = "fashion_mnist"
train_limit = 2000
test_limit = 400
[model]
plugin = "mlp"
[method]
plugin = "static"
density = 0.1
)";

class ModelFileRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("model-file");
    test::write_file(dir_->file("exp.toml"), kConfig);
    auto r = run_cigl("--config " + dir_->file("exp.toml") + " --output " +
                      dir_->file("run"));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string run_dir() { return dir_->file("run"); }
  static test::TempDir* dir_;
};
test::TempDir* ModelFileRun::dir_ = nullptr;

TEST_F(ModelFileRun, HoldsEveryParameterWithTheInspectNamesAndTheMasks) {
  const ModelFile file = read_model_file(run_dir() + "/model.pt");
  // LeNet-300-100: 784-300-100-10, weights and biases.
  std::vector<std::string> names;
  for (const auto& [name, tensor] : file.state) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"fc1.bias", "fc1.weight", "fc2.bias",
                                      "fc2.weight", "fc3.bias", "fc3.weight"}));
  EXPECT_EQ(file.state.at("fc1.weight").sizes(),
            (std::vector<std::int64_t>{300, 784}));
  ASSERT_EQ(file.masks.size(), 3u);
  std::int64_t ones = 0, total = 0;
  for (const auto& [name, mask] : file.masks) {
    EXPECT_EQ(mask.scalar_type(), torch::kBool);
    // Inactive weights are exactly zero.
    EXPECT_EQ(file.state.at(name)
                  .masked_select(mask.logical_not())
                  .abs()
                  .sum()
                  .item<double>(),
              0.0)
        << name;
    ones += mask.sum().item<std::int64_t>();
    total += mask.numel();
  }
  const auto metrics =
      nlohmann::json::parse(test::read_file(run_dir() + "/metrics.json"));
  EXPECT_NEAR(static_cast<double>(ones) / static_cast<double>(total), 0.1,
              1e-3);
  EXPECT_EQ(file.info.at("method"), "static");
  EXPECT_EQ(file.info.at("model"), "mlp");
}

TEST_F(ModelFileRun, PythonTorchLoadsItAndReproducesThePredictions) {
  // The Python whose torch is the LibTorch cigl was built with: the
  // wheel's virtual environment, or Debian's python3 with python3-torch.
  const std::string python = CIGL_TEST_PYTHON;
  if (std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) !=
      0) {
    GTEST_SKIP() << python
                 << " has no torch (scripts/install-deps.sh --tests "
                    "installs it)";
  }
  const std::string command =
      python + " " CIGL_TEST_SOURCE_DIR "/docs/examples/load_model.py " +
      run_dir() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    output.append(buffer, n);
  }
  const int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("400 predictions"), std::string::npos) << output;
  EXPECT_NE(output.find("3 masks, density 0.1"), std::string::npos) << output;
}

TEST_F(ModelFileRun, EvaluateScoresTheSavedModelAgain) {
  const std::string out = dir_->file("evaluated");
  auto r = run_cigl("--evaluate " + run_dir() + " --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto trained =
      nlohmann::json::parse(test::read_file(run_dir() + "/metrics.json"));
  const auto again =
      nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  EXPECT_EQ(again["test"], trained["test"]);
  EXPECT_EQ(again["density"], trained["density"]);
  EXPECT_EQ(test::read_file(out + "/predictions.csv"),
            test::read_file(run_dir() + "/predictions.csv"));
  EXPECT_FALSE(fs::exists(out + "/model.pt"));

  // Other test data: the default folder beside the run, other numbers.
  auto other =
      run_cigl("--evaluate " + run_dir() + " --set data.test_limit=1000");
  ASSERT_EQ(other.code, 0) << other.output;
  const std::string default_dir = run_dir() + ".eval-fashion_mnist";
  const auto wider =
      nlohmann::json::parse(test::read_file(default_dir + "/metrics.json"));
  EXPECT_NE(wider["test"]["accuracy"], trained["test"]["accuracy"]);
  EXPECT_EQ(wider["evaluated_model"], run_dir() + "/model.pt");

  auto unfinished = run_cigl("--evaluate " + dir_->path().string());
  EXPECT_EQ(unfinished.code, 2);
}

TEST_F(ModelFileRun, InitFromStartsTrainingFromTheSavedWeights) {
  const ModelFile saved = read_model_file(run_dir() + "/model.pt");
  auto text = std::string(kConfig);
  text.insert(text.find("plugin = \"mlp\"") + 14,
              "\ninit_from = \"" + run_dir() + "/model.pt\"");
  auto config = ConfigDocument::from_string(text, "init.toml")
                    .resolve(test::bundled_registry());
  EXPECT_EQ(config.model_init_from, run_dir() + "/model.pt");
  config.method.plugin = "dense";
  config.method.params = Params("method");
  Trainer trainer(config, test::bundled_registry());
  for (const auto& p : trainer.model()->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), saved.state.at(p.key()))) << p.key();
  }
  // The resolved config says where the weights came from.
  EXPECT_NE(to_toml(config).find("init_from = \"" + run_dir() + "/model.pt\""),
            std::string::npos);
}

// torchvision's resnet50 state dict, written out from its definition:
// model.pt of the `resnet50` plugin loads into it with load_state_dict.
TEST(ModelFile, ResNet50NamesAreTorchvisions) {
  std::set<std::string> expected;
  auto conv = [&](const std::string& name) {
    expected.insert(name + ".weight");
  };
  auto bn = [&](const std::string& name) {
    for (const char* p : {"weight", "bias", "running_mean", "running_var",
                          "num_batches_tracked"}) {
      expected.insert(name + "." + p);
    }
  };
  conv("conv1");
  bn("bn1");
  const int blocks[] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    for (int b = 0; b < blocks[stage]; ++b) {
      const std::string block =
          "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
      for (int i = 1; i <= 3; ++i) {
        conv(block + ".conv" + std::to_string(i));
        bn(block + ".bn" + std::to_string(i));
      }
      if (b == 0) {
        conv(block + ".downsample.0");
        bn(block + ".downsample.1");
      }
    }
  }
  expected.insert("fc.weight");
  expected.insert("fc.bias");

  auto& registry = test::bundled_registry();
  auto model = registry.make<Model>(
      "resnet50", default_params(registry, Kind::model, "resnet50"),
      ModelContext{{3, 224, 224}, 1000});
  std::set<std::string> got;
  for (const auto& [name, tensor] : model_file_of(*model, nullptr).state) {
    got.insert(name);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got.size(),
            320u);  // len(torchvision.models.resnet50().state_dict())
}

TEST(ModelFile, AMismatchedModelNamesTheTensor) {
  test::TempDir dir("model-file-bad");
  ModelFile file;
  file.state["fc1.weight"] = torch::zeros({3, 4});
  write_model_file(dir.file("m.pt"), file);
  torch::nn::Linear linear(4, 2);
  try {
    load_model_state(*linear, read_model_file(dir.file("m.pt")).state, "m.pt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.pt has no tensor 'bias'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_model_file(dir.file("missing.pt")), Error);
  test::write_file(dir.file("junk.pt"), "not a model");
  EXPECT_THROW(read_model_file(dir.file("junk.pt")), Error);
}

}  // namespace
}  // namespace cigl
