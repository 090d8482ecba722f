// Model `vgg`: VGG-16/19 (Simonyan & Zisserman 2015) with BatchNorm after
// every convolution and the CIFAR head of the "pytorch-cifar" code: the
// convolutional configuration, five 2x2 max pools, then a single
// Linear(512 -> classes). An adaptive average pool to 1x1 before the head
// lets inputs larger than 32x32 through; at 32x32 it is the identity.
#include <torch/torch.h>

#include "cigl/model.hpp"
#include "cigl/plugin.hpp"
#include "model_support.hpp"

namespace {

constexpr std::int64_t kPool = 0;  // a max pool in the configuration

const std::vector<std::int64_t>& configuration(std::int64_t depth) {
  static const std::vector<std::int64_t> vgg16{
      64,    64,  kPool, 128, 128,   kPool, 256, 256, 256,
      kPool, 512, 512,   512, kPool, 512,   512, 512, kPool};
  static const std::vector<std::int64_t> vgg19{
      64,  64,  kPool, 128, 128,   kPool, 256, 256, 256, 256,  kPool,
      512, 512, 512,   512, kPool, 512,   512, 512, 512, kPool};
  return depth == 16 ? vgg16 : vgg19;
}

class Vgg : public cigl::Model {
 public:
  Vgg(std::int64_t depth, std::int64_t in_channels, std::int64_t num_classes) {
    torch::nn::Sequential features;
    std::int64_t in = in_channels;
    for (std::int64_t c : configuration(depth)) {
      if (c == kPool) {
        // ceil_mode: the same as floor for sizes that halve evenly (32,
        // 64, 224, ...) and keeps odd sizes such as 28x28 working.
        features->push_back(torch::nn::MaxPool2d(
            torch::nn::MaxPool2dOptions(2).stride(2).ceil_mode(true)));
        continue;
      }
      // Convolutions keep their bias as in pytorch-cifar (whose published
      // parameter counts include it), although BatchNorm cancels it.
      features->push_back(torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in, c, 3).padding(1).bias(true)));
      features->push_back(torch::nn::BatchNorm2d(c));
      features->push_back(torch::nn::ReLU());
      in = c;
    }
    features_ = register_module("features", features);
    classifier_ =
        register_module("classifier", torch::nn::Linear(in, num_classes));
    cigl::models::init_standard(*this);
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = features_->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return classifier_->forward(x);
  }

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};

void register_vgg(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"vgg",
       "VGG-16/19 with BatchNorm and the CIFAR head of pytorch-cifar: 3x3 "
       "convs, five max pools, global avg pool, one Linear(512 -> classes)",
       {cigl::ParamSpec::integer("depth", 19,
                                 "16 (13 convolutions) or 19 (16 "
                                 "convolutions), plus the Linear head")
            .min(16)
            .max(19)}},
      [](const cigl::Params& p, const cigl::ModelContext& context) {
        const std::int64_t depth = p.integer("depth");
        if (depth != 16 && depth != 19) {
          p.fail("depth", "must be 16 or 19; got " + std::to_string(depth));
        }
        // Five max pools.
        const auto channels =
            cigl::models::check_image_input("vgg", context, 5);
        return std::make_shared<Vgg>(depth, channels, context.num_classes);
      });
}

}  // namespace

CIGL_PLUGIN("vgg", "1.0.0", register_vgg)
