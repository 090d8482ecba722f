// Model `resnet50`: torchvision's ImageNet ResNet-50 (7x7 stride-2 stem,
// 3x3 stride-2 max pool, Bottleneck v1.5 with the stride on the 3x3
// convolution, stages of 3/4/6/3 blocks), the network of RigL's ImageNet
// experiments; 25,557,032 parameters for 3x224x224 inputs and 1000 classes.
#include <torch/torch.h>

#include "cigl/model.hpp"
#include "cigl/plugin.hpp"
#include "resnet.hpp"

namespace {

void register_resnet50(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"resnet50",
       "ResNet-50 for 224x224 ImageNet inputs, as torchvision's resnet50: "
       "7x7 stem, max pool, Bottleneck stages 3/4/6/3, avg pool, Linear",
       {cigl::ParamSpec::boolean("zero_init_residual", false,
                                 "start the last BatchNorm scale of every "
                                 "residual branch at 0 (Goyal et al. 2017)")}},
      [](const cigl::Params& p, const cigl::ModelContext& context) {
        // Stem convolution, max pool and three stride-2 stages.
        const auto channels =
            cigl::models::check_image_input("resnet50", context, 5);
        return std::make_shared<cigl::models::ResNet<cigl::models::Bottleneck>>(
            cigl::models::ResNetStem::imagenet, std::vector<int>{3, 4, 6, 3},
            channels, context.num_classes, p.boolean("zero_init_residual"));
      });
}

}  // namespace

CIGL_PLUGIN("resnet50", "1.0.0", register_resnet50)
