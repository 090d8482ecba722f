#pragma once
// Builds a bundled optimizer plugin over a model's parameters, for tests
// that drive methods by hand.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "cigl/core/config.hpp"
#include "cigl/optimizer.hpp"
#include "test_support.hpp"

namespace cigl::test {

/// `name` ("sgd", "adam", "adamw") with its declared defaults, then the
/// `overrides`, over every parameter of `model`.
inline std::shared_ptr<Optimizer> make_optimizer(
    const std::string& name, torch::nn::Module& model,
    const std::vector<std::pair<std::string, Value>>& overrides = {}) {
  auto& registry = bundled_registry();
  Params params = default_params(registry, Kind::optimizer, name);
  for (const auto& [key, value] : overrides) params.set(key, value, "test");
  OptimizerContext context;
  for (const auto& p : model.named_parameters()) {
    context.parameters.push_back({p.key(), p.value()});
  }
  return registry.make<Optimizer>(name, params, context);
}

/// The tensors of per-element state `optimizer` keeps for `param`.
inline std::vector<torch::Tensor> optimizer_state(Optimizer& optimizer,
                                                  const torch::Tensor& param) {
  std::vector<torch::Tensor> out;
  optimizer.for_each_state(param, [&](torch::Tensor& t) { out.push_back(t); });
  return out;
}

}  // namespace cigl::test
