// Datasets `mnist` and `fashion_mnist`: the IDX files of either, read into
// memory as float images {n, 1, 28, 28} and int64 labels.
#include <filesystem>
#include <system_error>

#include <torch/torch.h>

#include "cigl/dataset.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"
#include "idx.hpp"

namespace fs = std::filesystem;

namespace {

struct Flavour {
  const char* name;
  const char* default_root;
  double mean, std;  // of the training images' pixels in [0, 1]
  const char* doc;
};

const Flavour kFashion{
    "fashion_mnist", "/usr/share/datasets/fashion-mnist", 0.2860, 0.3530,
    "Fashion-MNIST (IDX, gzip or plain): 60k train, 10k test, 10 classes"};
const Flavour kMnist{"mnist", "/usr/share/datasets/mnist", 0.1307, 0.3081,
                     "MNIST digits (IDX, gzip or plain): 60k train, 10k test"};

class IdxDataset : public cigl::Dataset {
 public:
  IdxDataset(const Flavour& flavour, const cigl::Params& params)
      : flavour_(flavour),
        root_(params.string("root")),
        normalize_(params.boolean("normalize")),
        train_limit_(params.integer("train_limit")),
        test_limit_(params.integer("test_limit")) {}

  cigl::DatasetInfo info() const override {
    // Both releases have 60,000 training images.
    const std::int64_t n =
        train_limit_ > 0 ? std::min<std::int64_t>(train_limit_, 60000) : 60000;
    return {{1, 28, 28}, 10, n};
  }

  cigl::DataBundle load() override {
    std::error_code ec;
    if (!fs::is_directory(root_, ec)) {
      const std::string where =
          std::string(flavour_.name) + ": data folder " + root_;
      if (ec && ec != std::errc::no_such_file_or_directory) {
        throw cigl::DataError(where + ": " + ec.message());
      }
      if (fs::exists(root_, ec))
        throw cigl::DataError(where + " is not a folder");
      throw cigl::DataError(
          where +
          " does not exist (on Debian: apt-get install dataset-fashion-mnist, "
          "or set data.root)");
    }
    cigl::DataBundle bundle;
    bundle.train = split("train", train_limit_);
    bundle.test = split("t10k", test_limit_);
    return bundle;
  }

 private:
  std::string find(const std::string& stem) const {
    for (const char* suffix : {".gz", ""}) {
      auto path = fs::path(root_) / (stem + suffix);
      // Anything there is taken; idx::read says what is wrong with it.
      std::error_code ec;
      if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) {
        return path.string();
      }
    }
    throw cigl::DataError(std::string(flavour_.name) + ": " +
                          (fs::path(root_) / (stem + ".gz")).string() +
                          " not found (nor without .gz)");
  }

  cigl::DataSplit split(const std::string& prefix, std::int64_t limit) const {
    const std::string images_file = find(prefix + "-images-idx3-ubyte");
    const std::string labels_file = find(prefix + "-labels-idx1-ubyte");
    // Headers first: disagreeing files are refused before any data is read.
    const auto image_dims = cigl::idx::read_dims(images_file, 3);
    const auto label_dims = cigl::idx::read_dims(labels_file, 1);
    if (image_dims[0] != label_dims[0]) {
      throw cigl::DataError(images_file + " holds " +
                            std::to_string(image_dims[0]) + " images but " +
                            labels_file + " holds " +
                            std::to_string(label_dims[0]) + " labels");
    }
    if (image_dims[1] != 28 || image_dims[2] != 28) {
      throw cigl::DataError(images_file + ": images are " +
                            std::to_string(image_dims[1]) + "x" +
                            std::to_string(image_dims[2]) + ", expected 28x28");
    }
    // Only the kept examples are read.
    auto labels = cigl::idx::read(labels_file, 1, limit);
    for (std::size_t i = 0; i < labels.data.size(); ++i) {
      if (labels.data[i] > 9) {
        throw cigl::DataError(labels_file + ": label " +
                              std::to_string(labels.data[i]) + " at index " +
                              std::to_string(i) + " is not in 0..9");
      }
    }
    auto images = cigl::idx::read(images_file, 3, limit);
    const auto n = static_cast<std::int64_t>(labels.data.size());
    auto x = torch::from_blob(images.data.data(), {n, 1, 28, 28}, torch::kUInt8)
                 .to(torch::kFloat)
                 .div_(255.0);
    if (normalize_) x.sub_(flavour_.mean).div_(flavour_.std);
    auto y = torch::from_blob(labels.data.data(), {n}, torch::kUInt8)
                 .to(torch::kLong);
    return {x, y};
  }

  const Flavour& flavour_;
  std::string root_;
  bool normalize_;
  std::int64_t train_limit_, test_limit_;
};

std::vector<cigl::ParamSpec> params_for(const Flavour& f) {
  return {
      cigl::ParamSpec::string("root", f.default_root,
                              "folder holding the four IDX files"),
      cigl::ParamSpec::boolean("normalize", true,
                               "subtract the training mean, divide by the "
                               "standard deviation"),
      cigl::ParamSpec::integer("train_limit", 0,
                               "use only the first N training examples; 0: "
                               "all")
          .min(0),
      cigl::ParamSpec::integer("test_limit", 0,
                               "use only the first N test examples; 0: all")
          .min(0),
  };
}

void register_datasets(cigl::Registrar& r) {
  for (const Flavour* f : {&kFashion, &kMnist}) {
    r.add<cigl::Dataset>({f->name, f->doc, params_for(*f)},
                         [f](const cigl::Params& p) {
                           return std::make_shared<IdxDataset>(*f, p);
                         });
  }
}

}  // namespace

CIGL_PLUGIN("mnist", "1.0.0", register_datasets)
