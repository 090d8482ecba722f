// Model `lenet5`: two 5x5 convolutions with max pooling and three fully
// connected layers (6-16-120-84-classes), ReLU activations; the first
// convolution pads by 2 so 28x28 inputs keep LeCun's 32x32 geometry.
#include <torch/torch.h>

#include "cigl/layers.hpp"
#include "cigl/model.hpp"
#include "cigl/plugin.hpp"

namespace {

class LeNet5 : public cigl::Model {
 public:
  LeNet5(const cigl::ModelContext& context, std::int64_t width_scale) {
    const auto& shape = context.input_shape;
    if (shape.size() != 3) {
      throw std::invalid_argument(
          "lenet5 needs image inputs {channels, height, width}");
    }
    const std::int64_t c1 = 6 * width_scale, c2 = 16 * width_scale;
    conv1_ = register_module(
        "conv1",
        cigl::nn::Conv2d(torch::nn::Conv2dOptions(shape[0], c1, 5).padding(2)));
    conv2_ = register_module("conv2", cigl::nn::Conv2d(c1, c2, 5));
    // Feature size after conv1 (same), pool, conv2 (valid), pool.
    const std::int64_t h = (shape[1] / 2 - 4) / 2, w = (shape[2] / 2 - 4) / 2;
    if (h < 1 || w < 1) {
      throw std::invalid_argument("lenet5 inputs must be at least 12x12");
    }
    fc1_ = register_module("fc1", cigl::nn::Linear(c2 * h * w, 120));
    fc2_ = register_module("fc2", cigl::nn::Linear(120, 84));
    fc3_ = register_module("fc3", cigl::nn::Linear(84, context.num_classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::max_pool2d(torch::relu(conv1_->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2_->forward(x)), 2);
    x = torch::relu(fc1_->forward(x.flatten(1)));
    x = torch::relu(fc2_->forward(x));
    return fc3_->forward(x);
  }

 private:
  // The SDK's layers, so masked ones can run sparse kernels.
  cigl::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  cigl::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

void register_lenet5(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"lenet5",
       "LeNet-5: conv 6-16, fully connected 120-84, ReLU, max pooling",
       {cigl::ParamSpec::integer("width_scale", 1,
                                 "multiplies the convolution channels "
                                 "(6 and 16)")
            .min(1)}},
      [](const cigl::Params& p, const cigl::ModelContext& context) {
        return std::make_shared<LeNet5>(context, p.integer("width_scale"));
      });
}

}  // namespace

CIGL_PLUGIN("lenet5", "1.0.0", register_lenet5)
