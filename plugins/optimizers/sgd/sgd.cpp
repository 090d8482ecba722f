// Optimizer `sgd`: LibTorch's SGD with momentum and Nesterov, in two
// parameter groups when weight decay skips biases and BatchNorm. Its one
// tensor of state per parameter is the momentum buffer; a fresh entry is a
// zero one (the first update after it, buffer = gradient, is what a fresh
// buffer gives too).
#include <memory>

#include <torch/optim/sgd.h>

#include "cigl/masking.hpp"
#include "cigl/optimizer.hpp"
#include "cigl/plugin.hpp"

namespace {

class Sgd : public cigl::Optimizer {
 public:
  Sgd(const cigl::Params& p, const cigl::OptimizerContext& context)
      : lr_(p.number("lr")) {
    const double momentum = p.number("momentum");
    auto options = torch::optim::SGDOptions(lr_)
                       .momentum(momentum)
                       .nesterov(p.boolean("nesterov") && momentum > 0)
                       .weight_decay(p.number("weight_decay"));
    auto groups = cigl::decay_groups(context, p.string("weight_decay_on"));
    std::vector<torch::optim::OptimizerParamGroup> param_groups;
    if (!groups.decayed.empty() || groups.undecayed.empty()) {
      param_groups.emplace_back(
          groups.decayed, std::make_unique<torch::optim::SGDOptions>(options));
    }
    if (!groups.undecayed.empty()) {
      auto no_decay = options;
      no_decay.weight_decay(0);
      param_groups.emplace_back(
          groups.undecayed,
          std::make_unique<torch::optim::SGDOptions>(no_decay));
    }
    sgd_ =
        std::make_unique<torch::optim::SGD>(std::move(param_groups), options);
  }

  double base_lr() const override { return lr_; }
  void set_lr(double lr) override {
    for (auto& group : sgd_->param_groups()) group.options().set_lr(lr);
  }
  void zero_grad() override { sgd_->zero_grad(); }
  void step() override { sgd_->step(); }
  torch::optim::Optimizer* torch_optimizer() override { return sgd_.get(); }

  void for_each_state(const torch::Tensor& param,
                      const std::function<void(torch::Tensor&)>& fn) override {
    auto buffer = momentum(param);
    if (buffer.defined()) fn(buffer);
  }

  torch::Tensor momentum(const torch::Tensor& param) override {
    return cigl::momentum_buffer(*sgd_, param);
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    sgd_->save(archive);
  }
  void load(torch::serialize::InputArchive& archive) override {
    sgd_->load(archive);
  }

 private:
  double lr_;
  std::unique_ptr<torch::optim::SGD> sgd_;
};

void register_sgd(cigl::Registrar& r) {
  auto params = cigl::optimizer_params(0.1, 5e-4);
  params.push_back(
      cigl::ParamSpec::number("momentum", 0.9, "momentum").min(0).max(0.999));
  params.push_back(cigl::ParamSpec::boolean(
      "nesterov", true, "Nesterov momentum (needs momentum > 0)"));
  r.add<cigl::Optimizer>(
      {"sgd", "SGD with momentum (LibTorch's), optionally Nesterov", params},
      [](const cigl::Params& p, const cigl::OptimizerContext& c) {
        return std::make_shared<Sgd>(p, c);
      });
}

}  // namespace

CIGL_PLUGIN("sgd", "1.0.0", register_sgd)
