// Model `wide_resnet`: Wide ResNet-depth-width (Zagoruyko & Komodakis
// 2016) for 32x32 images: pre-activation blocks (BN-ReLU-conv), a 3x3
// stem of 16 channels, three stages of 16k/32k/64k channels with strides
// 1/2/2 and (depth - 4) / 6 blocks each, optional dropout between a
// block's two convolutions, final BN-ReLU, global average pooling, Linear.
#include <torch/torch.h>

#include <cmath>

#include "cigl/model.hpp"
#include "cigl/plugin.hpp"
#include "model_support.hpp"

namespace {

using cigl::models::conv_no_bias;

class WideBlock : public torch::nn::Module {
 public:
  WideBlock(std::int64_t in, std::int64_t out, std::int64_t stride,
            double dropout)
      : dropout_(dropout) {
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(in));
    conv1_ = register_module("conv1", conv_no_bias(in, out, 3, stride));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", conv_no_bias(out, out, 3, 1));
    if (in != out || stride != 1) {
      // A plain 1x1 projection: the next block's BN normalises the sum.
      shortcut_ = register_module("shortcut", conv_no_bias(in, out, 1, stride));
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    auto o = torch::relu(bn1_->forward(x));
    // Where the shape changes the projection reads the pre-activated input,
    // as in the authors' code; otherwise the identity carries x itself.
    auto skip = shortcut_.is_empty() ? x : shortcut_->forward(o);
    o = torch::relu(bn2_->forward(conv1_->forward(o)));
    if (dropout_ > 0) o = torch::dropout(o, dropout_, is_training());
    return conv2_->forward(o) + skip;
  }

 private:
  double dropout_;
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, shortcut_{nullptr};
};

class WideResNet : public cigl::Model {
 public:
  WideResNet(std::int64_t depth, std::int64_t width, double dropout,
             std::int64_t in_channels, std::int64_t num_classes) {
    const std::int64_t n = (depth - 4) / 6;
    conv1_ = register_module("conv1", conv_no_bias(in_channels, 16, 3, 1));
    std::int64_t in = 16;
    for (std::int64_t s = 0; s < 3; ++s) {
      const std::int64_t out = (16 << s) * width;
      torch::nn::Sequential stage;
      for (std::int64_t b = 0; b < n; ++b) {
        const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        stage->push_back(std::make_shared<WideBlock>(in, out, stride, dropout));
        in = out;
      }
      stages_.push_back(
          register_module("block" + std::to_string(s + 1), stage));
    }
    bn_ = register_module("bn", torch::nn::BatchNorm2d(in));
    fc_ = register_module("fc", torch::nn::Linear(in, num_classes));
    cigl::models::init_standard(*this);
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = conv1_->forward(x);
    for (auto& stage : stages_) x = stage->forward(x);
    x = torch::relu(bn_->forward(x));
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_->forward(x);
  }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  torch::nn::BatchNorm2d bn_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

std::shared_ptr<cigl::Model> make_wide_resnet(
    const cigl::Params& p, const cigl::ModelContext& context) {
  const std::int64_t depth = p.integer("depth");
  if ((depth - 4) % 6 != 0) {
    p.fail("depth", "must be 6n + 4 (10, 16, 22, 28, 34, 40, ...); got " +
                        std::to_string(depth));
  }
  const double dropout = p.number("dropout");
  if (!(dropout < 1.0)) {
    p.fail("dropout", "must be below 1; got " + std::to_string(dropout));
  }
  // Two stride-2 stages.
  const auto channels =
      cigl::models::check_image_input("wide_resnet", context, 2);
  return std::make_shared<WideResNet>(depth, p.integer("width"), dropout,
                                      channels, context.num_classes);
}

void register_wide_resnet(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"wide_resnet",
       "Wide ResNet-depth-width (Zagoruyko & Komodakis) for 32x32 images: "
       "pre-activation blocks, stages of 16k/32k/64k channels, Linear head",
       {cigl::ParamSpec::integer("depth", 22,
                                 "total depth 6n + 4: n blocks of two 3x3 "
                                 "convolutions in each of the three stages")
            .min(10),
        cigl::ParamSpec::integer("width", 2,
                                 "widening factor k: the stages have 16k, 32k "
                                 "and 64k channels")
            .min(1),
        cigl::ParamSpec::number("dropout", 0.0,
                                "dropout probability between the two "
                                "convolutions of each block, in [0, 1)")
            .min(0)}},
      make_wide_resnet);
}

}  // namespace

CIGL_PLUGIN("wide_resnet", "1.0.0", register_wide_resnet)
