#pragma once
// Helpers shared by the image model plugins (header only: each plugin is
// its own library, and this folder has no CMakeLists.txt, so it is not a
// plugin itself).
#include <torch/torch.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cigl/model.hpp"

namespace cigl::models {

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "{";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return out + "}";
}

/// Checks that `context` describes images {C, H, W} large enough for
/// `downsamplings` layers that each halve the size (rounding up): every one
/// of them must see at least 2x2 pixels, or it would only read padding.
/// Returns the number of input channels. Throws std::invalid_argument.
inline std::int64_t check_image_input(const std::string& model,
                                      const ModelContext& context,
                                      int downsamplings) {
  const auto& shape = context.input_shape;
  if (shape.size() != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1) {
    throw std::invalid_argument(model +
                                " needs image inputs {channels, height, "
                                "width}; got " +
                                shape_text(shape));
  }
  const std::int64_t min_size =
      downsamplings > 0 ? (std::int64_t{1} << (downsamplings - 1)) + 1 : 1;
  if (shape[1] < min_size || shape[2] < min_size) {
    throw std::invalid_argument(
        model + " needs inputs of at least " + std::to_string(min_size) + "x" +
        std::to_string(min_size) + " pixels (it halves them " +
        std::to_string(downsamplings) + " times); got " + shape_text(shape));
  }
  if (context.num_classes < 1) {
    throw std::invalid_argument(model + " needs at least one class; got " +
                                std::to_string(context.num_classes));
  }
  return shape[0];
}

/// The initialisation of torchvision's ResNet and VGG: convolutions Kaiming
/// normal with fan_out for ReLU (std sqrt(2 / (k*k*out_channels)), which
/// is also Zagoruyko & Komodakis' WRN init) and zero bias where they have
/// one; BatchNorm weight 1, bias 0. Linear layers keep PyTorch's default
/// (Kaiming uniform, a = sqrt(5)), as torchvision's ResNet does.
inline void init_standard(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut,
                                       torch::kReLU);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

/// A convolution followed by BatchNorm: no bias, BatchNorm cancels it.
inline torch::nn::Conv2d conv_no_bias(std::int64_t in, std::int64_t out,
                                      std::int64_t kernel, std::int64_t stride,
                                      std::int64_t groups = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .groups(groups)
                               .bias(false));
}

}  // namespace cigl::models
