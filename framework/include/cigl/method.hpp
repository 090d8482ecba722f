#pragma once
// Sparse training methods hook into the core training loop. One step of the
// loop, with the hooks in the order they run:
//
//   before_step             (e.g. draw a per-step random mask)
//   forward, loss, backward (gradients of every weight, inactive ones too)
//   update_topology         only where topology_update_due(); returns
//                           whether this step still applies the optimizer
//   after_backward          (e.g. mask gradients)
//   optimizer step
//   after_step              (e.g. re-apply masks to weights and momentum)
//
// plus setup (model and optimizer exist), on_epoch_end, and finalize, which
// may hand back a different model for the final evaluation.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "cigl/collectives.hpp"
#include "cigl/component.hpp"
#include "cigl/model.hpp"
#include "cigl/optimizer.hpp"

namespace cigl {

class MaskSet;

struct TrainContext {
  std::shared_ptr<Model> model;
  Optimizer* optimizer = nullptr;  ///< the optimizer plugin in use
  torch::Device device = torch::kCPU;
  std::uint64_t seed = 0;        ///< the experiment seed
  std::int64_t step = 0;         ///< optimizer steps completed so far
  std::int64_t total_steps = 0;  ///< steps in the whole run (T)
  std::int64_t steps_per_epoch = 0;
  std::int64_t epoch = 0;  ///< current epoch, 0-based
  std::int64_t epochs = 0;
  const ComponentFactory* components = nullptr;
  /// Forward-only or gradient passes over the training data in order (no
  /// shuffling): batches of inputs and labels already on `device`. Every
  /// rank of a data-parallel run sees every batch; to split the work, a
  /// method counts the batches and takes those collectives->owns().
  std::function<void(
      const std::function<void(const torch::Tensor&, const torch::Tensor&)>&)>
      for_each_train_batch;
  /// The ranks of the run (cigl/collectives.hpp); never null. Gradients
  /// are already averaged over them when a method sees them.
  Collectives* collectives = &Collectives::single_process();
};

/// Inference FLOPs of one example: the model as it is now, and the same
/// model with every weight active (counted by cigl/core/costs.hpp).
struct ForwardFlops {
  double sparse = 0;
  double dense = 0;
};

class CIGL_API Method {
 public:
  virtual ~Method();

  virtual void setup(TrainContext& /*context*/) {}
  virtual void before_step(TrainContext& /*context*/) {}
  virtual bool topology_update_due(const TrainContext& /*context*/) const {
    return false;
  }
  /// Whether this step's backward pass must compute the gradient of every
  /// weight, inactive ones too (asked after before_step). Where it is
  /// false, sparse kernels may compute the gradient of active weights only
  /// (training.sparse_kernels): inactive weights then get a zero gradient.
  /// RigL and CigL need the dense gradient at their topology updates, SNFS
  /// at every step (its momentum); SET and the fixed-mask methods never.
  virtual bool needs_dense_gradient(const TrainContext& /*context*/) const {
    return false;
  }
  /// Called with the dense gradients of the step; returns whether the
  /// optimizer step of this iteration still runs.
  virtual bool update_topology(TrainContext& /*context*/) { return true; }
  virtual void after_backward(TrainContext& /*context*/) {}
  virtual void after_step(TrainContext& /*context*/) {}
  virtual void on_epoch_end(TrainContext& /*context*/) {}
  /// A replacement model for the final evaluation, or nullptr to keep it.
  virtual std::shared_ptr<Model> finalize(TrainContext& /*context*/) {
    return nullptr;
  }

  /// The parameters (in Model::parameters() order) as weight averaging
  /// should record them at an epoch end. The default is the parameters
  /// themselves; a method whose forward pass uses other values than the
  /// parameters hold between steps returns those (cigl's "restored"
  /// variant: the last step's scaled, randomly masked weights).
  virtual std::vector<torch::Tensor> averaging_snapshot(
      const TrainContext& context) const;

  /// The method's current masks, if it keeps any (for reports and tests).
  virtual const MaskSet* mask_set() const { return nullptr; }

  /// Training FLOPs per example of one step, averaged over the
  /// context.total_steps of the run, as the RigL paper counts them: a
  /// forward pass costs f, a backward pass 2f (input and weight
  /// gradients), and a step that needs the dense weight gradient
  /// 2 f_sparse + f_dense. Called after setup. The default is a fixed
  /// topology: 3 * forward.sparse.
  virtual double training_flops(const ForwardFlops& forward,
                                const TrainContext& context) const;

  /// Everything needed to resume (masks, counters, generators).
  virtual void save(torch::serialize::OutputArchive& /*archive*/) const {}
  virtual void load(torch::serialize::InputArchive& /*archive*/) {}
};

template <>
struct ComponentTraits<Method> {
  static constexpr Kind kind = Kind::method;
  using Context = NoContext;
};

}  // namespace cigl
