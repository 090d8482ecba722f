#include "cigl/optimizer.hpp"

#include <torch/torch.h>

namespace cigl {

Optimizer::~Optimizer() = default;

void Optimizer::reset_state(const torch::Tensor& param,
                            const torch::Tensor& where) {
  torch::NoGradGuard no_grad;
  for_each_state(param, [&](torch::Tensor& state) {
    state.masked_fill_(where.to(state.device(), torch::kBool), 0);
  });
}

torch::Tensor Optimizer::momentum(const torch::Tensor&) { return {}; }

torch::optim::Optimizer* Optimizer::torch_optimizer() { return nullptr; }

std::vector<ParamSpec> optimizer_params(double lr, double weight_decay) {
  return {
      ParamSpec::number("lr", lr, "base learning rate (the schedule scales it)")
          .greater_than(0),
      ParamSpec::number("weight_decay", weight_decay, "weight decay").min(0),
      ParamSpec::string("weight_decay_on", "weights",
                        "which parameters weight decay touches: \"weights\" "
                        "(Conv and Linear weights: not biases or BatchNorm, "
                        "as the CigL and RigL code) or \"all\"")
          .one_of({"weights", "all"}),
  };
}

DecayGroups decay_groups(const OptimizerContext& context,
                         const std::string& weight_decay_on) {
  DecayGroups groups;
  for (const auto& p : context.parameters) {
    // Biases and BatchNorm parameters are the 1-D ones (CigL's
    // sparselearning/utils/train_helper.py:155 tests the same).
    const bool decayed = weight_decay_on == "all" || p.tensor.dim() > 1;
    (decayed ? groups.decayed : groups.undecayed).push_back(p.tensor);
  }
  return groups;
}

}  // namespace cigl
