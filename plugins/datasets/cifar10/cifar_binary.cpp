#include "cifar_binary.hpp"

#include <filesystem>
#include <memory>

#include <torch/torch.h>

#include "cigl/data_file.hpp"
#include "cigl/error.hpp"

namespace fs = std::filesystem;

namespace cigl::cifar {

const Release kCifar10{
    "cifar10",
    "CIFAR-10",
    "data/cifar-10-batches-bin",
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
     "data_batch_4.bin", "data_batch_5.bin"},
    {"test_batch.bin"},
    {10},
    {0.4914, 0.4822, 0.4465},
    {0.2470, 0.2435, 0.2616}};

const Release kCifar100{
    "cifar100",
    "CIFAR-100",
    "data/cifar-100-binary",
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    {"train.bin"},
    {"test.bin"},
    {20, 100},  // coarse label byte, then fine
    {0.5071, 0.4865, 0.4409},
    {0.2673, 0.2564, 0.2762}};

namespace {

std::string how_to_get(const Release& r, const std::string& root) {
  return "download " + std::string(r.url) + " and extract it so that " +
         (fs::path(root) / r.train_files.front()).string() +
         " exists, or set data.root";
}

}  // namespace

std::vector<ParamSpec> common_params(const Release& r) {
  std::vector<ParamSpec> specs = {
      ParamSpec::string("root", r.default_root,
                        std::string("folder of the ") + r.title +
                            " binary release (relative to the working "
                            "directory); get it from " +
                            r.url),
      ParamSpec::boolean("normalize", true,
                         "subtract the published per-channel training mean, "
                         "divide by the standard deviation"),
      ParamSpec::numbers("mean", {},
                         "per-channel mean to normalise with instead of the "
                         "published one (3 values in [0, 1]); []: published"),
      ParamSpec::numbers("std", {},
                         "per-channel standard deviation instead of the "
                         "published one (3 values > 0); []: published"),
      ParamSpec::integer("train_limit", 0,
                         "use only the first N training examples; 0: all")
          .min(0),
      ParamSpec::integer("test_limit", 0,
                         "use only the first N test examples; 0: all")
          .min(0),
  };
  for (auto& spec : augmentation_params(4, true)) specs.push_back(spec);
  return specs;
}

CifarDataset::CifarDataset(const Release& release, const Params& params,
                           std::int64_t label_byte)
    : release_(release),
      root_(params.string("root")),
      normalize_(params.boolean("normalize")),
      train_limit_(params.integer("train_limit")),
      test_limit_(params.integer("test_limit")),
      label_byte_(label_byte),
      mean_(release.mean),
      std_(release.std) {
  auto override = [&](const char* key, std::array<double, 3>& out,
                      bool positive) {
    const auto& v = params.numbers(key);
    if (v.empty()) return;
    if (v.size() != 3) params.fail(key, "needs 3 values, one per channel");
    for (int c = 0; c < 3; ++c) {
      if (positive ? !(v[c] > 0) : !(v[c] >= 0 && v[c] <= 1)) {
        params.fail(
            key, positive ? "values must be > 0" : "values must be in [0, 1]");
      }
      out[c] = v[c];
    }
  };
  override("mean", mean_, false);
  override("std", std_, true);
  // torchvision pads raw pixels with 0, which normalisation maps to
  // -mean / std; the border must match whatever the images went through.
  std::vector<double> fill(3, 0.0);
  if (normalize_) {
    for (int c = 0; c < 3; ++c) fill[c] = -mean_[c] / std_[c];
  }
  augmentation_ = Augmentation::from_params(params, fill);
}

DatasetInfo CifarDataset::info() const {
  // Both releases have 50,000 training images.
  const std::int64_t n =
      train_limit_ > 0 ? std::min<std::int64_t>(train_limit_, 50000) : 50000;
  return {{3, 32, 32}, release_.label_classes[label_byte_], n};
}

DataBundle CifarDataset::load() {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    const std::string where =
        std::string(release_.plugin) + ": data folder " + root_;
    if (ec && ec != std::errc::no_such_file_or_directory) {
      throw DataError(where + ": " + ec.message());
    }
    throw DataError(
        where +
        (fs::exists(root_, ec) ? " is not a folder; " : " does not exist; ") +
        how_to_get(release_, root_));
  }
  // Every file is checked up front, so a broken release is reported before
  // minutes of reading.
  for (const auto* files : {&release_.train_files, &release_.test_files}) {
    for (const auto& name : *files) {
      const auto path = (fs::path(root_) / name).string();
      const std::string problem = regular_file_problem(path, "data");
      if (problem == path + ": not found") {
        throw DataError(std::string(release_.plugin) + ": " + path +
                        " not found (the " + release_.title +
                        " binary release has it); " +
                        how_to_get(release_, root_));
      }
      if (!problem.empty()) throw DataError(problem);
    }
  }
  DataBundle bundle;
  bundle.train = split(release_.train_files, train_limit_);
  bundle.test = split(release_.test_files, test_limit_);
  return bundle;
}

DataSplit CifarDataset::split(const std::vector<std::string>& files,
                              std::int64_t limit) const {
  std::vector<std::string> paths;
  for (const auto& name : files) paths.push_back(fs::path(root_) / name);
  Release release = release_;  // with the config's mean and std, if set
  release.mean = mean_;
  release.std = std_;
  return read_split(release, paths, label_byte_, limit, normalize_);
}

DataSplit read_split(const Release& release,
                     const std::vector<std::string>& files,
                     std::int64_t label_byte, std::int64_t limit,
                     bool normalize) {
  const auto label_bytes =
      static_cast<std::int64_t>(release.label_classes.size());
  const std::int64_t record_size = label_bytes + kPixels;
  // Sizes first: how many records each file gives, before any allocation.
  std::vector<std::unique_ptr<DataFile>> opened;
  std::vector<std::int64_t> takes;
  std::int64_t total = 0;
  for (const auto& path : files) {
    if (limit > 0 && total >= limit) break;  // enough: the rest is not read
    auto file = std::make_unique<DataFile>(path);
    const auto size = static_cast<std::int64_t>(file->size());
    if (size == 0 || size % record_size != 0) {
      throw DataError(path + ": truncated: " + std::to_string(size) +
                      " bytes, expected a multiple of " +
                      std::to_string(record_size));
    }
    const std::int64_t records = size / record_size;
    takes.push_back(limit > 0 ? std::min(records, limit - total) : records);
    total += takes.back();
    opened.push_back(std::move(file));
  }
  auto records = torch::empty({total, record_size}, torch::kUInt8);
  std::int64_t offset = 0;
  for (std::size_t f = 0; f < opened.size(); ++f) {
    auto part = records.narrow(0, offset, takes[f]);
    opened[f]->read_exactly(part.data_ptr<std::uint8_t>(),
                            static_cast<std::uint64_t>(takes[f] * record_size));
    for (std::int64_t b = 0; b < label_bytes; ++b) {
      const std::int64_t classes = release.label_classes[b];
      auto bad = part.select(1, b).ge(classes).nonzero();
      if (bad.size(0) > 0) {
        const auto index = bad[0].item<std::int64_t>();
        throw DataError(
            opened[f]->path() + ": record " + std::to_string(index) + " has " +
            (label_bytes > 1 ? (b == 0 ? "coarse " : "fine ") : "") + "label " +
            std::to_string(part[index][b].item<std::uint8_t>()) +
            ", not in 0.." + std::to_string(classes - 1));
      }
    }
    offset += takes[f];
  }

  auto labels = records.select(1, label_byte).to(torch::kLong);
  // One conversion for the whole split: bytes to float in [0, 1].
  auto inputs = records.narrow(1, label_bytes, kPixels)
                    .to(torch::kFloat)
                    .div_(255.0)
                    .reshape({total, 3, 32, 32});
  if (normalize) {
    auto mean = torch::tensor(std::vector<double>(release.mean.begin(),
                                                  release.mean.end()))
                    .to(torch::kFloat)
                    .view({1, 3, 1, 1});
    auto std = torch::tensor(
                   std::vector<double>(release.std.begin(), release.std.end()))
                   .to(torch::kFloat)
                   .view({1, 3, 1, 1});
    inputs.sub_(mean).div_(std);
  }
  return {inputs, labels};
}

torch::Tensor CifarDataset::augment(torch::Tensor inputs,
                                    torch::Generator& generator) const {
  return augmentation_.apply(inputs, generator);
}

}  // namespace cigl::cifar
