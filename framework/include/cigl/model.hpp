#pragma once
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "cigl/component.hpp"

namespace cigl {

/// What a model factory knows about the data it will see.
struct ModelContext {
  std::vector<std::int64_t> input_shape;  ///< one example, e.g. {1, 28, 28}
  std::int64_t num_classes = 0;
};

/// A classifier: inputs of shape {batch, input_shape...} to logits
/// {batch, num_classes}. Maskable weights are those of its Linear and Conv
/// submodules (see cigl/masking.hpp).
class CIGL_API Model : public torch::nn::Module {
 public:
  ~Model() override;
  virtual torch::Tensor forward(torch::Tensor inputs) = 0;
};

template <>
struct ComponentTraits<Model> {
  static constexpr Kind kind = Kind::model;
  using Context = ModelContext;
};

}  // namespace cigl
