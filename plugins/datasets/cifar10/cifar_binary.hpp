#pragma once
// The CIFAR binary releases (cifar-10-batches-bin, cifar-100-binary): fixed
// size records of label bytes then 3072 pixel bytes (the R, G and B planes,
// each 32x32 row-major). Shared by the cifar10 and cifar100 plugins.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cigl/augment.hpp"
#include "cigl/dataset.hpp"
#include "cigl/params.hpp"

namespace cigl::cifar {

constexpr std::int64_t kPixels = 3 * 32 * 32;

/// What differs between the releases.
struct Release {
  const char* plugin;  ///< "cifar10"
  const char* title;   ///< "CIFAR-10"
  const char* default_root;
  const char* url;
  std::vector<std::string> train_files, test_files;
  /// Label bytes in front of each record's pixels and the number of
  /// classes each one ranges over (CIFAR-100: coarse 20, fine 100).
  std::vector<std::int64_t> label_classes;
  /// Published per-channel statistics of the training pixels in [0, 1].
  std::array<double, 3> mean, std;
};

extern const Release kCifar10;
extern const Release kCifar100;

/// root, normalize, mean, std, train_limit, test_limit and the
/// augmentation parameters (cigl/augment.hpp).
std::vector<ParamSpec> common_params(const Release& release);

/// The records of `files`, in order, as one split of at most `limit`
/// examples (0: all): the class from label byte `label_byte` of each
/// record (every label byte checked against its class count), pixels as
/// float in [0, 1], normalised with the release's statistics when
/// `normalize`. Every file's size is checked before anything is allocated,
/// and only the kept records are read. Throws DataError naming the file.
DataSplit read_split(const Release& release,
                     const std::vector<std::string>& files,
                     std::int64_t label_byte, std::int64_t limit,
                     bool normalize);

class CifarDataset : public Dataset {
 public:
  /// `label_byte`: which of the record's label bytes is the class.
  CifarDataset(const Release& release, const Params& params,
               std::int64_t label_byte = 0);

  DatasetInfo info() const override;
  DataBundle load() override;
  torch::Tensor augment(torch::Tensor inputs,
                        torch::Generator& generator) const override;

 private:
  DataSplit split(const std::vector<std::string>& files,
                  std::int64_t limit) const;

  const Release& release_;
  std::string root_;
  bool normalize_;
  std::int64_t train_limit_, test_limit_, label_byte_;
  std::array<double, 3> mean_, std_;  ///< the normalisation in use
  Augmentation augmentation_;
};

}  // namespace cigl::cifar
