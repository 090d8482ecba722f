// The CIFAR-10 and CIFAR-100 binary releases on small files the test
// writes in the real layouts, and the clear errors for broken ones.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/dataset.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

// Pixel (c, y, x) of example `id`: a byte the test can recompute by hand.
std::uint8_t pixel(int id, int c, int y, int x) {
  return static_cast<std::uint8_t>((id * 11 + c * 50 + y * 3 + x) % 256);
}

// One record: the label bytes, then the R, G and B planes, each 32x32
// row-major.
std::string record(const std::vector<std::uint8_t>& labels, int id) {
  std::string s(labels.begin(), labels.end());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) s += static_cast<char>(pixel(id, c, y, x));
  return s;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError";
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class Cifar10 : public ::testing::Test {
 protected:
  test::TempDir dir{"cifar10"};

  // Five training files of 3 records (example ids 0..14, label id % 10)
  // and a test file of 2 (ids 100, 101, labels 7 and 2).
  void write_valid() {
    for (int f = 0; f < 5; ++f) {
      std::string bytes;
      for (int k = 0; k < 3; ++k) {
        const int id = f * 3 + k;
        bytes += record({static_cast<std::uint8_t>(id % 10)}, id);
      }
      test::write_file(dir.file("data_batch_" + std::to_string(f + 1) + ".bin"),
                       bytes);
    }
    test::write_file(dir.file("test_batch.bin"),
                     record({7}, 100) + record({2}, 101));
  }

  Params params(bool normalize = false) {
    Params p =
        default_params(test::bundled_registry(), Kind::dataset, "cifar10");
    p.set("root", dir.path().string(), "test");
    p.set("normalize", normalize, "test");
    return p;
  }

  std::shared_ptr<Dataset> dataset(const Params& p) {
    return test::bundled_registry().make<Dataset>("cifar10", p);
  }

  std::string load_error() {
    return message_of([&] { dataset(params())->load(); });
  }
};

TEST_F(Cifar10, InfoNeedsNoFiles) {
  Params p = params();
  p.set("root", std::string("/nonexistent/cifar"), "test");
  auto info = dataset(p)->info();
  EXPECT_EQ(info.input_shape, (std::vector<std::int64_t>{3, 32, 32}));
  EXPECT_EQ(info.num_classes, 10);
  EXPECT_EQ(info.train_examples, 50000);
  p.set("train_limit", std::int64_t{1000}, "test");
  EXPECT_EQ(dataset(p)->info().train_examples, 1000);
}

TEST_F(Cifar10, ReadsLabelsAndPlanesInFileOrder) {
  write_valid();
  auto data = dataset(params())->load();
  ASSERT_EQ(data.train.inputs.sizes(),
            (std::vector<std::int64_t>{15, 3, 32, 32}));
  ASSERT_EQ(data.test.size(), 2);
  EXPECT_EQ(data.train.labels.dtype(), torch::kLong);
  EXPECT_TRUE(
      torch::equal(data.train.labels,
                   torch::tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4},
                                 torch::kLong)));
  EXPECT_TRUE(
      torch::equal(data.test.labels, torch::tensor({7, 2}, torch::kLong)));
  // Example 7 (data_batch_3.bin, record 1), blue plane, row 5, column 20:
  // 7*11 + 100 + 15 + 20 = 212.
  EXPECT_FLOAT_EQ(data.train.inputs[7][2][5][20].item<float>(), 212.0f / 255);
  // Example 4, red, row 31, column 0: 44 + 93 = 137.
  EXPECT_FLOAT_EQ(data.train.inputs[4][0][31][0].item<float>(), 137.0f / 255);
  // Test example id 101, green, row 1, column 2: (1111 + 50 + 5) % 256 = 142.
  EXPECT_FLOAT_EQ(data.test.inputs[1][1][1][2].item<float>(), 142.0f / 255);
}

TEST_F(Cifar10, NormalizesWithThePublishedChannelStatistics) {
  write_valid();
  auto data = dataset(params(true))->load();
  // Example 7, blue (212), and example 4, red (137), as above.
  EXPECT_NEAR(data.train.inputs[7][2][5][20].item<float>(),
              (212 / 255.0 - 0.4465) / 0.2616, 1e-5);
  EXPECT_NEAR(data.train.inputs[4][0][31][0].item<float>(),
              (137 / 255.0 - 0.4914) / 0.2470, 1e-5);
  // Green of test id 101 (142).
  EXPECT_NEAR(data.test.inputs[1][1][1][2].item<float>(),
              (142 / 255.0 - 0.4822) / 0.2435, 1e-5);
}

TEST_F(Cifar10, LimitsTakeTheFirstExamples) {
  write_valid();
  Params p = params();
  p.set("train_limit", std::int64_t{4}, "test");
  p.set("test_limit", std::int64_t{1}, "test");
  auto data = dataset(p)->load();
  EXPECT_TRUE(torch::equal(data.train.labels,
                           torch::tensor({0, 1, 2, 3}, torch::kLong)));
  EXPECT_EQ(data.test.size(), 1);
  EXPECT_FLOAT_EQ(data.train.inputs[3][0][0][1].item<float>(), 34.0f / 255);
}

// The padded border is the normalised value of a zero pixel, -mean/std,
// as when torchvision pads the raw image before normalising.
TEST_F(Cifar10, CropPadsWithTheNormalisedBlack) {
  Params p = params(true);
  p.set("crop_padding", std::int64_t{4}, "test");
  p.set("horizontal_flip", false, "test");
  auto cifar = dataset(p);
  auto batch = torch::full({64, 3, 32, 32}, 5.0f);
  torch::Generator g = at::make_generator<at::CPUGeneratorImpl>(0);
  auto out = cifar->augment(batch, g);
  ASSERT_EQ(out.sizes(), batch.sizes());
  const double black[3] = {-0.4914 / 0.2470, -0.4822 / 0.2435,
                           -0.4465 / 0.2616};
  std::int64_t border = 0;
  for (int c = 0; c < 3; ++c) {
    auto channel = out.select(1, c);
    auto is_black = (channel - black[c]).abs() < 1e-5;
    EXPECT_TRUE((is_black | (channel == 5.0f)).all().item<bool>()) << c;
    border += is_black.sum().item<std::int64_t>();
  }
  EXPECT_GT(border, 0);
}

TEST_F(Cifar10, DefaultsAreTheStandardRecipe) {
  Params p = default_params(test::bundled_registry(), Kind::dataset, "cifar10");
  EXPECT_EQ(p.integer("crop_padding"), 4);
  EXPECT_TRUE(p.boolean("horizontal_flip"));
  EXPECT_TRUE(p.boolean("normalize"));
  EXPECT_EQ(p.string("root"), "data/cifar-10-batches-bin");
}

TEST_F(Cifar10, MissingFolderNamesThePathAndTheDownload) {
  Params p = params();
  p.set("root", std::string("/nonexistent/cifar-10-batches-bin"), "test");
  std::string e = message_of([&] { dataset(p)->load(); });
  EXPECT_TRUE(contains(e, "/nonexistent/cifar-10-batches-bin")) << e;
  EXPECT_TRUE(
      contains(e, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"))
      << e;
  EXPECT_TRUE(contains(e, "data.root")) << e;
}

TEST_F(Cifar10, MissingBatchFileIsNamed) {
  write_valid();
  std::filesystem::remove(dir.file("data_batch_3.bin"));
  std::string e = load_error();
  EXPECT_TRUE(contains(e, dir.file("data_batch_3.bin") + " not found")) << e;
}

TEST_F(Cifar10, TruncatedFileIsNamedWithItsSize) {
  write_valid();
  test::write_file(dir.file("test_batch.bin"),
                   record({1}, 0) + record({1}, 1).substr(0, 100));
  std::string e = load_error();
  EXPECT_TRUE(contains(e, dir.file("test_batch.bin") +
                              ": truncated: 3173 bytes, expected a multiple "
                              "of 3073"))
      << e;
  test::write_file(dir.file("test_batch.bin"), "");
  EXPECT_TRUE(contains(load_error(), "truncated: 0 bytes"));
}

// A folder or device where a batch file should be was reported as "not
// found"; /dev/zero would have been read as an endless file.
TEST_F(Cifar10, NonRegularBatchFilesAreNamedAsSuch) {
  write_valid();
  const std::string batch = dir.file("data_batch_4.bin");
  std::filesystem::remove(batch);
  std::filesystem::create_directory(batch);
  EXPECT_EQ(load_error(), batch + ": is a folder, not a data file");
  std::filesystem::remove(batch);
  std::filesystem::create_symlink("/dev/zero", batch);
  EXPECT_EQ(load_error(),
            batch + " (-> /dev/zero): is a character device, not a data file");
}

// Only the records kept are read: files after the limit are not even
// opened, so a broken one there does not matter.
TEST_F(Cifar10, LimitsStopReadingAtTheLastKeptRecord) {
  write_valid();
  test::write_file(dir.file("data_batch_3.bin"), "broken");
  Params p = params();
  p.set("train_limit", std::int64_t{5}, "test");
  auto data = dataset(p)->load();
  EXPECT_EQ(data.train.size(), 5);
  EXPECT_EQ(data.train.labels[4].item<std::int64_t>(), 4);
  EXPECT_TRUE(contains(load_error(), dir.file("data_batch_3.bin")));
}

TEST_F(Cifar10, LabelOutOfRangeNamesFileAndRecord) {
  write_valid();
  test::write_file(dir.file("data_batch_2.bin"),
                   record({1}, 0) + record({2}, 1) + record({10}, 2));
  std::string e = load_error();
  EXPECT_TRUE(contains(
      e, dir.file("data_batch_2.bin") + ": record 2 has label 10, not in 0..9"))
      << e;
}

class Cifar100 : public ::testing::Test {
 protected:
  test::TempDir dir{"cifar100"};

  // Records hold (coarse, fine): train (3, 41), (19, 99), (0, 7);
  // test (5, 55).
  void write_valid() {
    test::write_file(
        dir.file("train.bin"),
        record({3, 41}, 0) + record({19, 99}, 1) + record({0, 7}, 2));
    test::write_file(dir.file("test.bin"), record({5, 55}, 3));
  }

  std::shared_ptr<Dataset> dataset(const std::string& labels,
                                   bool normalize = true) {
    auto& registry = test::bundled_registry();
    Params p = default_params(registry, Kind::dataset, "cifar100");
    p.set("root", dir.path().string(), "test");
    p.set("labels", labels, "test");
    p.set("normalize", normalize, "test");
    return registry.make<Dataset>("cifar100", p);
  }
};

TEST_F(Cifar100, FineAndCoarseLabelsComeFromTheirOwnBytes) {
  write_valid();
  EXPECT_EQ(dataset("fine")->info().num_classes, 100);
  EXPECT_EQ(dataset("coarse")->info().num_classes, 20);
  auto fine = dataset("fine")->load();
  auto coarse = dataset("coarse")->load();
  EXPECT_TRUE(torch::equal(fine.train.labels,
                           torch::tensor({41, 99, 7}, torch::kLong)));
  EXPECT_TRUE(torch::equal(coarse.train.labels,
                           torch::tensor({3, 19, 0}, torch::kLong)));
  EXPECT_EQ(fine.test.labels[0].item<std::int64_t>(), 55);
  EXPECT_EQ(coarse.test.labels[0].item<std::int64_t>(), 5);
  // Pixels start after both label bytes. Example 1, green, row 2, column
  // 3: 11 + 50 + 6 + 3 = 70; CIFAR-100's own statistics.
  EXPECT_NEAR(fine.train.inputs[1][1][2][3].item<float>(),
              (70 / 255.0 - 0.4865) / 0.2564, 1e-5);
  // Test id 3, red, row 0, column 0: 33.
  EXPECT_NEAR(coarse.test.inputs[0][0][0][0].item<float>(),
              (33 / 255.0 - 0.5071) / 0.2673, 1e-5);
  // Blue of example 2, row 10, column 10: 22 + 100 + 30 + 10 = 162.
  EXPECT_NEAR(fine.train.inputs[2][2][10][10].item<float>(),
              (162 / 255.0 - 0.4409) / 0.2762, 1e-5);
}

TEST_F(Cifar100, BrokenReleasesAreClearErrors) {
  std::string e = message_of([&] { dataset("fine")->load(); });
  // The folder exists but is empty.
  EXPECT_TRUE(contains(e, dir.file("train.bin") + " not found")) << e;
  EXPECT_TRUE(
      contains(e, "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"))
      << e;

  write_valid();
  // A CIFAR-10 sized record is not a CIFAR-100 one (3074 bytes).
  test::write_file(dir.file("test.bin"), record({5}, 0));
  e = message_of([&] { dataset("fine")->load(); });
  EXPECT_TRUE(contains(e, dir.file("test.bin") +
                              ": truncated: 3073 bytes, expected a multiple "
                              "of 3074"))
      << e;

  write_valid();
  test::write_file(dir.file("train.bin"),
                   record({3, 41}, 0) + record({3, 100}, 1));
  e = message_of([&] { dataset("fine")->load(); });
  EXPECT_TRUE(contains(
      e, dir.file("train.bin") + ": record 1 has fine label 100, not in 0..99"))
      << e;
  test::write_file(dir.file("train.bin"),
                   record({3, 41}, 0) + record({20, 4}, 1));
  e = message_of([&] { dataset("fine")->load(); });
  EXPECT_TRUE(contains(e, "record 1 has coarse label 20, not in 0..19")) << e;
}

}  // namespace
}  // namespace cigl
