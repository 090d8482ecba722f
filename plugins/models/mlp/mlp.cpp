// Model `mlp`: fully connected ReLU network on flattened inputs;
// LeNet-300-100 (LeCun et al. 1998) by default.
#include <torch/torch.h>

#include "cigl/layers.hpp"
#include "cigl/model.hpp"
#include "cigl/plugin.hpp"

namespace {

class Mlp : public cigl::Model {
 public:
  Mlp(const std::vector<std::int64_t>& hidden,
      const cigl::ModelContext& context) {
    std::int64_t width = 1;
    for (auto d : context.input_shape) width *= d;
    for (std::size_t i = 0; i < hidden.size(); ++i) {
      layers_.push_back(register_module("fc" + std::to_string(i + 1),
                                        cigl::nn::Linear(width, hidden[i])));
      width = hidden[i];
    }
    layers_.push_back(
        register_module("fc" + std::to_string(hidden.size() + 1),
                        cigl::nn::Linear(width, context.num_classes)));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    for (std::size_t i = 0; i + 1 < layers_.size(); ++i) {
      x = torch::relu(layers_[i]->forward(x));
    }
    return layers_.back()->forward(x);
  }

 private:
  std::vector<cigl::nn::Linear> layers_;
};

void register_mlp(cigl::Registrar& r) {
  r.add<cigl::Model>(
      {"mlp",
       "fully connected ReLU network (LeNet-300-100 by default)",
       {cigl::ParamSpec::integers("hidden", {300, 100},
                                  "hidden layer widths, input to output")
            .min(1)}},
      [](const cigl::Params& p, const cigl::ModelContext& context) {
        return std::make_shared<Mlp>(p.integers("hidden"), context);
      });
}

}  // namespace

CIGL_PLUGIN("mlp", "1.0.0", register_mlp)
