#pragma once
// Optimizers are plugins of kind `optimizer` (`[optimizer] plugin = "sgd"`,
// "adam", "adamw"). The mask machinery keeps pruned weights exactly zero
// through any optimizer's state without knowing which one it is: each
// optimizer declares its per-element state (for_each_state) and how to
// make entries fresh (reset_state).
#include <functional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "cigl/component.hpp"

namespace cigl {

struct NamedParameter {
  std::string name;  ///< as Module::named_parameters() names it, "fc.bias"
  torch::Tensor tensor;
};

/// What the trainer hands an optimizer's factory: every parameter of the
/// model, in registration order.
struct OptimizerContext {
  std::vector<NamedParameter> parameters;
};

class CIGL_API Optimizer {
 public:
  virtual ~Optimizer();

  /// The configured learning rate, which the schedule scales.
  virtual double base_lr() const = 0;
  /// The learning rate of the next step(), in every parameter group.
  virtual void set_lr(double lr) = 0;
  virtual void zero_grad() = 0;
  virtual void step() = 0;

  /// Calls `fn` on each tensor of state the optimizer keeps per element of
  /// `param` (same shape as `param`): SGD's momentum buffer, Adam's two
  /// moments. Nothing before the parameter's first step. `fn` may change
  /// the tensor in place (the masks multiply it by the mask).
  virtual void for_each_state(
      const torch::Tensor& param,
      const std::function<void(torch::Tensor&)>& fn) = 0;
  /// Makes the entries of `param`'s state where `where` (bool, the shape of
  /// `param`) is true as if they had never been stepped. The default zeroes
  /// them in every tensor of for_each_state.
  virtual void reset_state(const torch::Tensor& param,
                           const torch::Tensor& where);
  /// A momentum-like direction of `param` that momentum-driven growth
  /// (SNFS) ranks, or an undefined tensor when there is none (yet). The
  /// default has none.
  virtual torch::Tensor momentum(const torch::Tensor& param);
  /// The LibTorch optimizer doing the work, or nullptr (the default). With
  /// a torch::optim::SGD here, training.sparse_kernels updates the active
  /// entries of sparse layers itself, in O(active weights), and keeps
  /// their momentum compact between steps: the trainer hands methods this
  /// optimizer behind a wrapper whose state-touching calls bring SGD's
  /// buffers up to date first (a buffer kept from an earlier call may lag
  /// behind).
  virtual torch::optim::Optimizer* torch_optimizer();

  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
};

template <>
struct ComponentTraits<Optimizer> {
  static constexpr Kind kind = Kind::optimizer;
  using Context = OptimizerContext;
};

/// The parameters every bundled optimizer declares: `lr`, `weight_decay`
/// and `weight_decay_on`, with the given defaults.
CIGL_API std::vector<ParamSpec> optimizer_params(double lr,
                                                 double weight_decay);

/// The model's parameters split by `weight_decay_on`:
///  - "weights": decay only tensors of two or more dimensions (Conv and
///    Linear weights); biases and BatchNorm scales and shifts are 1-D and
///    are not decayed. The CigL code's rule
///    (sparselearning/utils/train_helper.py:151-162 of StevenBoys/CigL),
///    and what RigL's kernel regularizers decay.
///  - "all": every parameter (PyTorch's default).
struct DecayGroups {
  std::vector<torch::Tensor> decayed, undecayed;
};
CIGL_API DecayGroups decay_groups(const OptimizerContext& context,
                                  const std::string& weight_decay_on);

}  // namespace cigl
