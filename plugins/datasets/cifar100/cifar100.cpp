// Dataset `cifar100`: the CIFAR-100 binary release (cifar-100-binary),
// in memory as float {n, 3, 32, 32}, labelled by the 100 fine or the 20
// coarse classes, with batch-wise crop and flip augmentation.
#include <memory>

#include "cifar_binary.hpp"
#include "cigl/plugin.hpp"

namespace {

void register_cifar100(cigl::Registrar& r) {
  using cigl::cifar::kCifar100;
  auto params = cigl::cifar::common_params(kCifar100);
  params.push_back(cigl::ParamSpec::string("labels", "fine",
                                           "\"fine\": 100 classes; "
                                           "\"coarse\": the 20 superclasses")
                       .one_of({"fine", "coarse"}));
  r.add<cigl::Dataset>(
      {"cifar100",
       "CIFAR-100 (binary release): 50k train, 10k test, 100 fine or 20 "
       "coarse classes, 3x32x32",
       params},
      [](const cigl::Params& p) {
        // Each record holds the coarse label byte, then the fine one.
        const std::int64_t byte = p.string("labels") == "coarse" ? 0 : 1;
        return std::make_shared<cigl::cifar::CifarDataset>(kCifar100, p, byte);
      });
}

}  // namespace

CIGL_PLUGIN("cifar100", "1.0.0", register_cifar100)
