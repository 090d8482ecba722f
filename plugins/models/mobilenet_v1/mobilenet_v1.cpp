// Model `mobilenet_v1`: MobileNet v1 (Howard et al. 2017) for 224x224
// ImageNet inputs, the network of RigL's MobileNet experiments: a 3x3
// stride-2 stem of 32 channels, 13 depthwise-separable blocks (3x3
// depthwise conv + BN + ReLU, 1x1 pointwise conv + BN + ReLU), global
// average pooling and a Linear head; 4,231,976 parameters at width 1.0
// with 1000 classes.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "cigl/model.hpp"
#include "cigl/plugin.hpp"
#include "model_support.hpp"

namespace {

using cigl::models::conv_no_bias;

class SeparableBlock : public torch::nn::Module {
 public:
  SeparableBlock(std::int64_t in, std::int64_t out, std::int64_t stride) {
    // groups = channels: one 3x3 filter per channel.
    depthwise_ =
        register_module("depthwise", conv_no_bias(in, in, 3, stride, in));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(in));
    pointwise_ = register_module("pointwise", conv_no_bias(in, out, 1, 1));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
  }

  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(bn1_->forward(depthwise_->forward(x)));
    return torch::relu(bn2_->forward(pointwise_->forward(x)));
  }

 private:
  torch::nn::Conv2d depthwise_{nullptr}, pointwise_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
};

class MobileNetV1 : public cigl::Model {
 public:
  MobileNetV1(double multiplier, std::int64_t in_channels,
              std::int64_t num_classes) {
    // As the authors' TF-Slim code: truncate, but never below 8 channels.
    // The epsilon keeps e.g. 0.75 * 64 at 48 despite rounding.
    auto scaled = [multiplier](std::int64_t c) {
      return std::max<std::int64_t>(
          8, static_cast<std::int64_t>(std::floor(c * multiplier + 1e-9)));
    };
    struct Stage {
      std::int64_t channels, stride;
    };
    const Stage stages[] = {{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                            {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                            {512, 1}, {1024, 2}, {1024, 1}};
    std::int64_t in = scaled(32);
    conv1_ = register_module("conv1", conv_no_bias(in_channels, in, 3, 2));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(in));
    torch::nn::Sequential blocks;
    for (const auto& s : stages) {
      const std::int64_t out = scaled(s.channels);
      blocks->push_back(std::make_shared<SeparableBlock>(in, out, s.stride));
      in = out;
    }
    blocks_ = register_module("blocks", blocks);
    fc_ = register_module("fc", torch::nn::Linear(in, num_classes));
    cigl::models::init_standard(*this);
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn1_->forward(conv1_->forward(x)));
    x = blocks_->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_->forward(x);
  }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

void register_mobilenet_v1(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"mobilenet_v1",
       "MobileNet v1 for 224x224 ImageNet inputs: 3x3 stride-2 stem, 13 "
       "depthwise-separable blocks with BN and ReLU, avg pool, Linear",
       {cigl::ParamSpec::number("width_multiplier", 1.0,
                                "scales every layer's channels (32 to 1024 at "
                                "1.0), truncated, at least 8")
            .greater_than(0)}},
      [](const cigl::Params& p, const cigl::ModelContext& context) {
        // Stem and four stride-2 blocks.
        const auto channels =
            cigl::models::check_image_input("mobilenet_v1", context, 5);
        return std::make_shared<MobileNetV1>(p.number("width_multiplier"),
                                             channels, context.num_classes);
      });
}

}  // namespace

CIGL_PLUGIN("mobilenet_v1", "1.0.0", register_mobilenet_v1)
