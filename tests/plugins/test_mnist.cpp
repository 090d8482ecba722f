// The IDX datasets on small files the test writes, plain and gzip, and the
// clear errors for broken ones.
#include <gtest/gtest.h>
#include <zlib.h>

#include "cigl/core/config.hpp"
#include "cigl/dataset.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::string big_endian(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
          static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string images_idx(std::uint32_t n, std::uint32_t rows = 28,
                       std::uint32_t cols = 28) {
  std::string s =
      big_endian(0x803) + big_endian(n) + big_endian(rows) + big_endian(cols);
  for (std::uint32_t i = 0; i < n * rows * cols; ++i) {
    s += static_cast<char>((i / (rows * cols)) * 50);  // image k is 50k
  }
  return s;
}

std::string labels_idx(const std::vector<std::uint8_t>& labels) {
  std::string s = big_endian(0x801) + big_endian(labels.size());
  for (auto l : labels) s += static_cast<char>(l);
  return s;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile out = gzopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(out);
}

class IdxDataset : public ::testing::Test {
 protected:
  test::TempDir dir{"idx"};

  void write_valid(bool gzip) {
    auto put = [&](const std::string& name, const std::string& bytes) {
      if (gzip) {
        write_gzip(dir.file(name + ".gz"), bytes);
      } else {
        test::write_file(dir.file(name), bytes);
      }
    };
    put("train-images-idx3-ubyte", images_idx(3));
    put("train-labels-idx1-ubyte", labels_idx({3, 1, 4}));
    put("t10k-images-idx3-ubyte", images_idx(2));
    put("t10k-labels-idx1-ubyte", labels_idx({9, 0}));
  }

  std::shared_ptr<Dataset> dataset(bool normalize = false) {
    auto& registry = test::bundled_registry();
    Params p = default_params(registry, Kind::dataset, "fashion_mnist");
    p.set("root", dir.path().string(), "test");
    p.set("normalize", normalize, "test");
    return registry.make<Dataset>("fashion_mnist", p);
  }

  std::string load_error() {
    try {
      dataset()->load();
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "loaded without error";
    return "";
  }
};

TEST_F(IdxDataset, ReadsPlainFilesIntoScaledTensors) {
  write_valid(false);
  auto data = dataset()->load();
  ASSERT_EQ(data.train.inputs.sizes(),
            (std::vector<std::int64_t>{3, 1, 28, 28}));
  EXPECT_EQ(data.train.labels.dtype(), torch::kLong);
  EXPECT_EQ(data.train.labels[2].item<std::int64_t>(), 4);
  EXPECT_EQ(data.test.labels[0].item<std::int64_t>(), 9);
  // Image 1 is all 50: 50/255 after scaling.
  EXPECT_FLOAT_EQ(data.train.inputs[1][0][5][7].item<float>(), 50.0f / 255);
}

TEST_F(IdxDataset, ReadsGzipFilesAndNormalizes) {
  write_valid(true);
  auto data = dataset(true)->load();
  EXPECT_EQ(data.test.size(), 2);
  EXPECT_NEAR(data.train.inputs[2][0][0][0].item<float>(),
              (100.0 / 255 - 0.2860) / 0.3530, 1e-5);
}

TEST_F(IdxDataset, MissingFolderSaysHowToGetTheData) {
  auto& registry = test::bundled_registry();
  Params p = default_params(registry, Kind::dataset, "fashion_mnist");
  p.set("root", std::string("/nonexistent/fmnist"), "test");
  try {
    registry.make<Dataset>("fashion_mnist", p)->load();
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fmnist"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"),
              std::string::npos);
  }
}

TEST_F(IdxDataset, MissingFileIsNamed) {
  write_valid(false);
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte"));
  EXPECT_NE(load_error().find("t10k-labels-idx1-ubyte.gz not found"),
            std::string::npos);
}

TEST_F(IdxDataset, TruncatedFileIsNamed) {
  write_valid(false);
  std::string bytes = images_idx(3);
  test::write_file(dir.file("train-images-idx3-ubyte"),
                   bytes.substr(0, bytes.size() - 100));
  std::string e = load_error();
  EXPECT_NE(e.find("train-images-idx3-ubyte"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST_F(IdxDataset, TruncatedGzipStreamIsAnError) {
  write_valid(true);
  std::string gz = test::read_file(dir.file("t10k-images-idx3-ubyte.gz"));
  test::write_file(dir.file("t10k-images-idx3-ubyte.gz"),
                   gz.substr(0, gz.size() / 2));
  std::string e = load_error();
  EXPECT_NE(e.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << e;
}

TEST_F(IdxDataset, WrongMagicIsNamed) {
  write_valid(false);
  // A label file where the images should be.
  test::write_file(dir.file("train-images-idx3-ubyte"), labels_idx({1, 2, 3}));
  std::string e = load_error();
  EXPECT_NE(e.find("wrong magic number 0x00000801 (expected 0x00000803"),
            std::string::npos)
      << e;
}

TEST_F(IdxDataset, MismatchedCountsNameBothFiles) {
  write_valid(false);
  test::write_file(dir.file("train-labels-idx1-ubyte"), labels_idx({1, 2}));
  std::string e = load_error();
  EXPECT_NE(e.find("holds 3 images but"), std::string::npos) << e;
  EXPECT_NE(e.find("train-labels-idx1-ubyte holds 2 labels"), std::string::npos)
      << e;
}

TEST_F(IdxDataset, TrailingBytesAndBadLabelsAreErrors) {
  write_valid(false);
  test::write_file(dir.file("t10k-labels-idx1-ubyte"),
                   labels_idx({1, 2}) + "xx");
  EXPECT_NE(load_error().find("trailing bytes"), std::string::npos);
  test::write_file(dir.file("t10k-labels-idx1-ubyte"), labels_idx({1, 12}));
  EXPECT_NE(load_error().find("label 12 at index 1 is not in 0..9"),
            std::string::npos);
}

TEST_F(IdxDataset, LimitsTakeTheFirstExamples) {
  write_valid(false);
  auto& registry = test::bundled_registry();
  Params p = default_params(registry, Kind::dataset, "mnist");
  p.set("root", dir.path().string(), "test");
  p.set("train_limit", std::int64_t{2}, "test");
  auto data = registry.make<Dataset>("mnist", p)->load();
  EXPECT_EQ(data.train.size(), 2);
  EXPECT_EQ(data.test.size(), 2);
}

}  // namespace
}  // namespace cigl
