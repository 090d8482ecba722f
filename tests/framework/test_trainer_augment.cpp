// The trainer's use of Dataset::augment(): every training example once per
// epoch, never a validation or test example, what it returns is what the
// model trains on, and its generator is checkpointed so resuming an
// augmented run stays bit-for-bit.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <map>

#include "cigl/core/config.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/dataset.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

/// What the recording dataset's augment() saw.
struct Recording {
  std::vector<torch::Tensor> batches;  // example ids of each call
  bool poison = false;                 // return NaN instead of the inputs
};

/// Two features per example: its id (train 0..199, test 1000..1049) and a
/// value that gives the class away.
class RecordingDataset : public Dataset {
 public:
  explicit RecordingDataset(std::shared_ptr<Recording> recording)
      : recording_(std::move(recording)) {}
  DatasetInfo info() const override { return {{2}, 2}; }
  DataBundle load() override { return {make(0, 200), make(1000, 50)}; }
  torch::Tensor augment(torch::Tensor inputs,
                        torch::Generator&) const override {
    recording_->batches.push_back(inputs.select(1, 0).clone());
    return recording_->poison ? torch::full_like(inputs, NAN) : inputs;
  }

 private:
  static DataSplit make(std::int64_t first, std::int64_t n) {
    auto ids = torch::arange(first, first + n, torch::kFloat);
    auto labels = torch::arange(n, torch::kLong).remainder(2);
    auto inputs = torch::stack({ids, labels.to(torch::kFloat) * 2 - 1}, 1);
    return {inputs, labels};
  }
  std::shared_ptr<Recording> recording_;
};

const char* const kRecorded = R"(
[experiment]
device = "cpu"
threads = 2
[training]
epochs = 3
batch_size = 32
validation_fraction = 0.2
[data]
plugin = "recording"
[model]
plugin = "mlp"
hidden = [8]
[optimizer]
lr = 0.01
)";

class TrainerAugment : public ::testing::Test {
 protected:
  void SetUp() override {
    auto errors = registry.load_directories({CIGL_TEST_PLUGIN_DIR});
    ASSERT_TRUE(errors.empty()) << errors.front();
    auto rec = recording;
    registry.add<Dataset>({"recording", "records what augment() sees", {}},
                          [rec](const Params&) {
                            return std::make_shared<RecordingDataset>(rec);
                          });
  }
  ExperimentConfig config() const {
    return ConfigDocument::from_string(kRecorded, "augment.toml")
        .resolve(registry);
  }
  Registry registry;
  std::shared_ptr<Recording> recording = std::make_shared<Recording>();
};

std::vector<float> sorted_ids(const torch::Tensor& ids) {
  auto s = std::get<0>(ids.sort());
  return std::vector<float>(s.data_ptr<float>(),
                            s.data_ptr<float>() + s.numel());
}

TEST_F(TrainerAugment, SeesEachTrainingExampleOncePerEpochAndNothingElse) {
  Trainer trainer(config(), registry);
  trainer.fit();
  trainer.test();
  ASSERT_EQ(trainer.train_split().size(), 160);  // 200 less 20% validation
  const auto train_ids = sorted_ids(trainer.train_split().inputs.select(1, 0));
  // 160 / 32: 5 batches an epoch, one call each, and no call from the
  // validation passes after each epoch or from the test.
  ASSERT_EQ(static_cast<std::int64_t>(recording->batches.size()),
            trainer.step());
  ASSERT_EQ(recording->batches.size(), 15u);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<torch::Tensor> seen(recording->batches.begin() + epoch * 5,
                                    recording->batches.begin() + epoch * 5 + 5);
    EXPECT_EQ(sorted_ids(torch::cat(seen)), train_ids) << "epoch " << epoch;
  }
}

TEST_F(TrainerAugment, TheModelTrainsOnWhatAugmentReturns) {
  recording->poison = true;
  Trainer trainer(config(), registry);
  try {
    trainer.train_epoch();
    FAIL() << "NaN training inputs did not reach the loss";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos)
        << e.what();
  }
}

const char* const kSynthetic = R"(
[experiment]
device = "cpu"
threads = 2
[training]
epochs = 2
batch_size = 64
[data]
plugin = "synthetic"
input_shape = [3, 8, 8]
train_size = 512
test_size = 128
noise = 3.0
crop_padding = 2
horizontal_flip = true
[model]
plugin = "mlp"
hidden = [32]
[optimizer]
lr = 0.05
)";

ExperimentConfig synthetic(const std::vector<std::string>& overrides = {}) {
  auto doc = ConfigDocument::from_string(kSynthetic, "synthetic.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

// If the augmentation generator were not saved, the resumed second epoch
// would repeat the first epoch's crops and flips.
TEST(TrainerAugmentResume, ResumesAnAugmentedRunBitForBit) {
  test::TempDir dir("augment-resume");
  Trainer straight(synthetic(), test::bundled_registry());
  straight.fit();
  auto expected = straight.test();
  {
    Trainer first(synthetic(), test::bundled_registry());
    first.train_epoch();
    first.save_state(dir.file("state.pt"));
  }
  Trainer resumed(synthetic(), test::bundled_registry());
  resumed.load_state(dir.file("state.pt"));
  resumed.train_epoch();
  auto got = resumed.test();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i].second)) continue;
    EXPECT_EQ(got[i].second, expected[i].second) << got[i].first;
  }
  // And the augmentation did change training.
  Trainer plain(
      synthetic({"data.crop_padding=0", "data.horizontal_flip=false"}),
      test::bundled_registry());
  plain.fit();
  auto unaugmented = plain.test();
  bool differs = false;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    differs |= unaugmented[i].second != expected[i].second;
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace cigl
