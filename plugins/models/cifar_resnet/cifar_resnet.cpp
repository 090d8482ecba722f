// Model `cifar_resnet`: ResNet-18/34/50 for 32x32 images in the layout of
// the widely used "pytorch-cifar" code that CigL trains (3x3 stride-1 stem
// of 64 channels, no max pool, stages 64/128/256/512 with strides
// 1/2/2/2, global average pooling, Linear head).
#include <torch/torch.h>

#include "cigl/model.hpp"
#include "cigl/plugin.hpp"
#include "resnet.hpp"

namespace {

using cigl::models::BasicBlock;
using cigl::models::Bottleneck;
using cigl::models::ResNet;
using cigl::models::ResNetStem;

std::shared_ptr<cigl::Model> make_cifar_resnet(
    const cigl::Params& p, const cigl::ModelContext& context) {
  const std::int64_t depth = p.integer("depth");
  if (depth != 18 && depth != 34 && depth != 50) {
    p.fail("depth", "must be one of 18, 34, 50; got " + std::to_string(depth));
  }
  // Three stride-2 stages.
  const auto channels =
      cigl::models::check_image_input("cifar_resnet", context, 3);
  // The CigL code builds its ResNet-50 with 100 outputs for CIFAR-10 too
  // (models/__init__.py:6 of StevenBoys/CigL); num_classes reproduces it.
  const auto classes = p.integer("num_classes") > 0 ? p.integer("num_classes")
                                                    : context.num_classes;
  if (classes < context.num_classes) {
    p.fail("num_classes", "is below the dataset's " +
                              std::to_string(context.num_classes) + " classes");
  }
  const bool zero_init = p.boolean("zero_init_residual");
  if (depth == 18) {
    return std::make_shared<ResNet<BasicBlock>>(ResNetStem::cifar,
                                                std::vector<int>{2, 2, 2, 2},
                                                channels, classes, zero_init);
  }
  const std::vector<int> blocks{3, 4, 6, 3};  // ResNet-34 and ResNet-50
  if (depth == 34) {
    return std::make_shared<ResNet<BasicBlock>>(ResNetStem::cifar, blocks,
                                                channels, classes, zero_init);
  }
  return std::make_shared<ResNet<Bottleneck>>(ResNetStem::cifar, blocks,
                                              channels, classes, zero_init);
}

void register_cifar_resnet(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"cifar_resnet",
       "ResNet-18/34/50 for 32x32 images (pytorch-cifar layout as in CigL): "
       "3x3 stem, no max pool, stages 64-512, BatchNorm, avg pool, Linear",
       {cigl::ParamSpec::integer("depth", 50,
                                 "18 or 34 (BasicBlock: two 3x3 convs), 50 "
                                 "(Bottleneck 1x1-3x3-1x1, expansion 4)")
            .min(18)
            .max(50),
        cigl::ParamSpec::boolean("zero_init_residual", false,
                                 "start the last BatchNorm scale of every "
                                 "residual branch at 0 (the CigL code does)"),
        cigl::ParamSpec::integer("num_classes", 0,
                                 "outputs of the head; 0: the dataset's "
                                 "classes (the CigL code uses 100 on "
                                 "CIFAR-10 too)")
            .min(0)}},
      make_cifar_resnet);
}

}  // namespace

CIGL_PLUGIN("cifar_resnet", "1.0.0", register_cifar_resnet)
