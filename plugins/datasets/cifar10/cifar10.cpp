// Dataset `cifar10`: the CIFAR-10 binary release (cifar-10-batches-bin),
// in memory as float {n, 3, 32, 32}, with batch-wise crop and flip
// augmentation of the training batches on the training device.
#include <memory>

#include "cifar_binary.hpp"
#include "cigl/plugin.hpp"

namespace {

void register_cifar10(cigl::Registrar& r) {
  using cigl::cifar::kCifar10;
  r.add<cigl::Dataset>(
      {"cifar10",
       "CIFAR-10 (binary release): 50k train, 10k test, 10 classes, 3x32x32",
       cigl::cifar::common_params(kCifar10)},
      [](const cigl::Params& p) {
        return std::make_shared<cigl::cifar::CifarDataset>(kCifar10, p);
      });
}

}  // namespace

CIGL_PLUGIN("cifar10", "1.0.0", register_cifar10)
