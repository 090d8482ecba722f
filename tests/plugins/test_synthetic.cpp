// The `synthetic` dataset: shapes and classes as asked, repeatable from its
// seed, and learnable (a nearest-class-mean classifier fitted here).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/dataset.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

Params params(const std::vector<std::pair<std::string, Value>>& set = {}) {
  Params p =
      default_params(test::bundled_registry(), Kind::dataset, "synthetic");
  for (const auto& [key, value] : set) p.set(key, value, "test");
  return p;
}

std::shared_ptr<Dataset> synthetic(const Params& p) {
  return test::bundled_registry().make<Dataset>("synthetic", p);
}

/// Test accuracy of classifying each test example by the nearest mean of
/// the training examples of each class (squared Euclidean distance).
double nearest_class_mean_accuracy(const DataBundle& data,
                                   std::int64_t classes) {
  auto x = data.train.inputs.flatten(1).to(torch::kDouble);
  std::vector<torch::Tensor> means;
  for (std::int64_t k = 0; k < classes; ++k) {
    means.push_back(x.index({data.train.labels == k}).mean(0));
  }
  auto centres = torch::stack(means);  // {classes, d}
  auto t = data.test.inputs.flatten(1).to(torch::kDouble);
  auto distances = torch::cdist(t, centres);
  auto predicted = distances.argmin(1);
  return (predicted == data.test.labels)
      .to(torch::kDouble)
      .mean()
      .item<double>();
}

TEST(Synthetic, HonoursShapeSizesAndClassesWithoutLoadingForInfo) {
  auto p = params({{"input_shape", std::vector<std::int64_t>{2, 5, 7}},
                   {"num_classes", std::int64_t{3}},
                   {"train_size", std::int64_t{30}},
                   {"test_size", std::int64_t{9}}});
  auto dataset = synthetic(p);
  auto info = dataset->info();
  EXPECT_EQ(info.input_shape, (std::vector<std::int64_t>{2, 5, 7}));
  EXPECT_EQ(info.num_classes, 3);
  EXPECT_EQ(info.train_examples, 30);
  auto data = dataset->load();
  EXPECT_EQ(data.train.inputs.sizes(),
            (std::vector<std::int64_t>{30, 2, 5, 7}));
  EXPECT_EQ(data.test.inputs.sizes(), (std::vector<std::int64_t>{9, 2, 5, 7}));
  EXPECT_EQ(data.train.inputs.dtype(), torch::kFloat);
  EXPECT_EQ(data.train.labels.dtype(), torch::kLong);
  // Every class, equally often.
  EXPECT_TRUE(torch::equal(torch::bincount(data.train.labels),
                           torch::tensor({10, 10, 10}, torch::kLong)));
  EXPECT_TRUE(torch::equal(torch::bincount(data.test.labels),
                           torch::tensor({3, 3, 3}, torch::kLong)));
}

TEST(Synthetic, FlatInputsWork) {
  auto data = synthetic(params({{"input_shape", std::vector<std::int64_t>{12}},
                                {"num_classes", std::int64_t{4}}}))
                  ->load();
  EXPECT_EQ(data.train.inputs.sizes(), (std::vector<std::int64_t>{2048, 12}));
  EXPECT_EQ(data.test.size(), 512);
  EXPECT_EQ(data.train.labels.max().item<std::int64_t>(), 3);
}

TEST(Synthetic, SameSeedSameBitsOtherSeedOtherData) {
  auto small = std::vector<std::pair<std::string, Value>>{
      {"train_size", std::int64_t{64}}, {"test_size", std::int64_t{16}}};
  auto a = synthetic(params(small))->load();
  auto b = synthetic(params(small))->load();
  EXPECT_TRUE(torch::equal(a.train.inputs, b.train.inputs));
  EXPECT_TRUE(torch::equal(a.test.inputs, b.test.inputs));
  small.push_back({"seed", std::int64_t{1}});
  auto c = synthetic(params(small))->load();
  EXPECT_FALSE(torch::equal(a.train.inputs, c.train.inputs));
  // Train and test draw different noise.
  EXPECT_FALSE(torch::equal(a.train.inputs.narrow(0, 0, 16), a.test.inputs));
}

// Without noise every example is its class prototype, and image
// prototypes are mirror symmetric, so a horizontal flip keeps the class.
TEST(Synthetic, ImagePrototypesAreMirrorSymmetric) {
  auto data = synthetic(params({{"noise", 0.0},
                                {"num_classes", std::int64_t{4}},
                                {"train_size", std::int64_t{8}}}))
                  ->load();
  auto x = data.train.inputs;
  EXPECT_TRUE(torch::equal(x[0], x[4]));  // both class 0
  EXPECT_FALSE(torch::equal(x[0], x[1]));
  EXPECT_TRUE(torch::allclose(x, x.flip({3}), 0, 1e-6));
  // Of about unit scale, as `noise` is measured against.
  const double sd = x.std().item<double>();
  EXPECT_GT(sd, 0.3);
  EXPECT_LT(sd, 1.5);
}

TEST(Synthetic, NearestClassMeanLearnsItAtTheDefaultNoise) {
  auto p = params();
  auto data = synthetic(p)->load();
  EXPECT_EQ(data.train.size(), 2048);
  EXPECT_EQ(data.test.size(), 512);
  EXPECT_EQ(torch::bincount(data.train.labels).min().item<std::int64_t>(),
            2048 / 10);
  EXPECT_GE(nearest_class_mean_accuracy(data, 10), 0.9);
}

TEST(Synthetic, NoiseControlsTheDifficulty) {
  // At noise 1000 the class signal is lost: near chance (0.1).
  auto data = synthetic(params({{"noise", 1000.0}}))->load();
  EXPECT_LT(nearest_class_mean_accuracy(data, 10), 0.3);
}

TEST(Synthetic, AugmentingNeedsImageInputs) {
  EXPECT_THROW(synthetic(params({{"input_shape", std::vector<std::int64_t>{8}},
                                 {"horizontal_flip", true}})),
               ConfigError);
  EXPECT_THROW(
      synthetic(params({{"input_shape", std::vector<std::int64_t>{}}})),
      ConfigError);
}

}  // namespace
}  // namespace cigl
