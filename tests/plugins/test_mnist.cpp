// The IDX datasets on small files the test writes, plain and gzip, and the
// clear errors for broken ones.
#include <gtest/gtest.h>
#include <sys/stat.h>
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

// A folder used to read as a "corrupt gzip stream", /dev/zero ended in
// std::bad_alloc and a FIFO blocked forever.
TEST_F(IdxDataset, NonRegularFilesAreRefusedBeforeOpening) {
  write_valid(false);
  const std::string images = dir.file("train-images-idx3-ubyte");
  std::filesystem::remove(images);
  std::filesystem::create_directory(images);
  EXPECT_EQ(load_error(), images + ": is a folder, not a data file");
  std::filesystem::remove(images);
  std::filesystem::create_symlink("/dev/zero", images);
  EXPECT_EQ(load_error(),
            images + " (-> /dev/zero): is a character device, not a data file");
  std::filesystem::remove(images);
  ASSERT_EQ(mkfifo(images.c_str(), 0600), 0);
  EXPECT_EQ(load_error(), images +
                              ": is a FIFO (named pipe), not a data file "
                              "(reading it could block forever)");
}

// Headers are compared before any data is read: a small gzip announcing
// 2,000,000 images next to 3 labels used to be decompressed whole first
// (gigabytes; the peak is measured in test_cli_bad_inputs.cpp).
TEST_F(IdxDataset, CountsDisagreeingInTheHeadersAreRefusedFirst) {
  write_valid(false);
  write_gzip(dir.file("train-images-idx3-ubyte.gz"),
             big_endian(0x803) + big_endian(2000000) + big_endian(28) +
                 big_endian(28) + std::string(10000, '\0'));
  EXPECT_EQ(load_error(), dir.file("train-images-idx3-ubyte.gz") +
                              " holds 2000000 images but " +
                              dir.file("train-labels-idx1-ubyte") +
                              " holds 3 labels");
}

TEST_F(IdxDataset, GzipStreamShorterOrLongerThanAnnouncedStopsThere) {
  write_valid(false);
  test::write_file(dir.file("t10k-labels-idx1-ubyte"),
                   labels_idx({1, 2, 3, 4, 5, 6, 7, 8, 9, 0}));
  // 10 images announced, 3 present.
  std::string short_stream = images_idx(3);
  short_stream.replace(4, 4, big_endian(10));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), short_stream);
  EXPECT_EQ(load_error(), dir.file("t10k-images-idx3-ubyte.gz") +
                              ": 2352 data bytes, but the header announces "
                              "7840 (truncated)");
  // 2 announced (and labelled), 3 present.
  test::write_file(dir.file("t10k-labels-idx1-ubyte"), labels_idx({1, 2}));
  std::string long_stream = images_idx(3);
  long_stream.replace(4, 4, big_endian(2));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), long_stream);
  EXPECT_EQ(load_error(), dir.file("t10k-images-idx3-ubyte.gz") +
                              ": more than the 1568 data bytes the header "
                              "announces (trailing bytes)");
}

TEST_F(IdxDataset, GzipTooSmallForWhatItAnnouncesIsRefusedUnread) {
  write_valid(false);
  std::vector<std::uint8_t> labels(60000, 1);
  test::write_file(dir.file("t10k-labels-idx1-ubyte"), labels_idx(labels));
  std::string header = images_idx(0);
  header.replace(4, 4, big_endian(60000));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), header);
  const std::string e = load_error();
  EXPECT_EQ(e.rfind(dir.file("t10k-images-idx3-ubyte.gz") +
                        ": truncated: a gzip file of ",
                    0),
            0u)
      << e;
  EXPECT_NE(e.find(" bytes cannot hold the 47040000 data bytes its header "
                   "announces"),
            std::string::npos)
      << e;
}

// With a limit only the kept examples are decompressed: a stream broken
// after them loads, and fails without the limit.
TEST_F(IdxDataset, LimitsAreAppliedWhileReading) {
  write_valid(false);
  const std::string file = dir.file("train-images-idx3-ubyte.gz");
  const std::string bytes = images_idx(3);
  write_gzip(file, bytes.substr(0, 16 + 2 * 784));  // header, 2 images
  const std::string first = test::read_file(file);
  write_gzip(file, bytes.substr(16 + 2 * 784));  // the third image
  const std::string second = test::read_file(file);
  test::write_file(file, first + second.substr(0, second.size() - 12));
  auto& registry = test::bundled_registry();
  Params p = default_params(registry, Kind::dataset, "fashion_mnist");
  p.set("root", dir.path().string(), "test");
  p.set("train_limit", std::int64_t{2}, "test");
  p.set("normalize", false, "test");
  auto data = registry.make<Dataset>("fashion_mnist", p)->load();
  EXPECT_EQ(data.train.size(), 2);
  EXPECT_FLOAT_EQ(data.train.inputs[1][0][3][3].item<float>(), 50.0f / 255);
  EXPECT_NE(load_error().find(file), std::string::npos);
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
