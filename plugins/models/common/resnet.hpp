#pragma once
// ResNet (He et al. 2016) shared by `cifar_resnet` and `resnet50`. Module
// names follow torchvision (conv1, bn1, layer1..layer4, downsample, fc) and
// modules are registered in forward order, so the stem convolution is the
// first maskable weight and `fc` the last.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "cigl/model.hpp"
#include "model_support.hpp"

namespace cigl::models {

/// 1x1 convolution + BatchNorm on the shortcut where the shape changes.
inline torch::nn::Sequential projection(std::int64_t in, std::int64_t out,
                                        std::int64_t stride) {
  return torch::nn::Sequential(conv_no_bias(in, out, 1, stride),
                               torch::nn::BatchNorm2d(out));
}

/// Two 3x3 convolutions (ResNet-18/34).
class BasicBlock : public torch::nn::Module {
 public:
  static constexpr std::int64_t expansion = 1;
  BasicBlock(std::int64_t in, std::int64_t planes, std::int64_t stride) {
    conv1_ = register_module("conv1", conv_no_bias(in, planes, 3, stride));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv_no_bias(planes, planes, 3, 1));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(planes));
    if (stride != 1 || in != planes) {
      downsample_ =
          register_module("downsample", projection(in, planes, stride));
    }
  }
  /// The BatchNorm that closes the residual branch.
  torch::nn::BatchNorm2d& last_norm() { return bn2_; }
  torch::Tensor forward(torch::Tensor x) {
    auto out = torch::relu(bn1_->forward(conv1_->forward(x)));
    out = bn2_->forward(conv2_->forward(out));
    return torch::relu(out +
                       (downsample_.is_empty() ? x : downsample_->forward(x)));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

/// 1x1 reduce, 3x3, 1x1 expand by 4 (ResNet-50). The stride sits on the 3x3
/// convolution ("v1.5", torchvision and pytorch-cifar alike).
class Bottleneck : public torch::nn::Module {
 public:
  static constexpr std::int64_t expansion = 4;
  Bottleneck(std::int64_t in, std::int64_t planes, std::int64_t stride) {
    const std::int64_t out = planes * expansion;
    conv1_ = register_module("conv1", conv_no_bias(in, planes, 1, 1));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv_no_bias(planes, planes, 3, stride));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3", conv_no_bias(planes, out, 1, 1));
    bn3_ = register_module("bn3", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      downsample_ = register_module("downsample", projection(in, out, stride));
    }
  }
  /// The BatchNorm that closes the residual branch.
  torch::nn::BatchNorm2d& last_norm() { return bn3_; }
  torch::Tensor forward(torch::Tensor x) {
    auto out = torch::relu(bn1_->forward(conv1_->forward(x)));
    out = torch::relu(bn2_->forward(conv2_->forward(out)));
    out = bn3_->forward(conv3_->forward(out));
    return torch::relu(out +
                       (downsample_.is_empty() ? x : downsample_->forward(x)));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

enum class ResNetStem {
  cifar,     ///< 3x3 stride-1 convolution, no max pool (32x32 inputs)
  imagenet,  ///< 7x7 stride-2 convolution, 3x3 stride-2 max pool (224x224)
};

/// Four stages of 64/128/256/512 planes with strides 1, 2, 2, 2, global
/// average pooling and a Linear head. With `zero_init_residual` the last
/// BatchNorm scale of every residual branch starts at 0, so each block
/// starts as the identity (Goyal et al. 2017; torchvision's option, on by
/// default in the CigL code's ResNet, models/resnet.py:184 and 228-234 of
/// StevenBoys/CigL).
template <class Block>  // BasicBlock or Bottleneck
class ResNet : public Model {
 public:
  ResNet(ResNetStem stem, const std::vector<int>& blocks,
         std::int64_t in_channels, std::int64_t num_classes,
         bool zero_init_residual = false)
      : imagenet_(stem == ResNetStem::imagenet) {
    // The ImageNet stem pads in a step of its own before a 'valid' 7x7
    // convolution: the same function as padding=3, but the layer then
    // reads a 230x230 input as in the Keras ResNet-50 the RigL paper
    // counted, which its FLOPs convention depends on (docs/costs.md).
    conv1_ = register_module(
        "conv1", imagenet_ ? torch::nn::Conv2d(
                                 torch::nn::Conv2dOptions(in_channels, 64, 7)
                                     .stride(2)
                                     .bias(false))
                           : conv_no_bias(in_channels, 64, 3, 1));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(64));
    std::int64_t in = 64;
    const std::int64_t planes[] = {64, 128, 256, 512};
    std::vector<std::shared_ptr<Block>> all_blocks;
    for (std::size_t s = 0; s < 4; ++s) {
      torch::nn::Sequential stage;
      for (int b = 0; b < blocks[s]; ++b) {
        const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        auto block = std::make_shared<Block>(in, planes[s], stride);
        stage->push_back(block);
        all_blocks.push_back(block);
        in = planes[s] * Block::expansion;
      }
      layers_.push_back(
          register_module("layer" + std::to_string(s + 1), stage));
    }
    fc_ = register_module("fc", torch::nn::Linear(in, num_classes));
    init_standard(*this);
    if (zero_init_residual) {
      torch::NoGradGuard no_grad;
      for (auto& block : all_blocks) block->last_norm()->weight.zero_();
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    if (imagenet_) x = torch::constant_pad_nd(x, {3, 3, 3, 3});
    x = torch::relu(bn1_->forward(conv1_->forward(x)));
    if (imagenet_) x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& stage : layers_) x = stage->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_->forward(x);
  }

 private:
  bool imagenet_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  torch::nn::Linear fc_{nullptr};
};

}  // namespace cigl::models
