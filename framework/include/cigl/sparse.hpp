#pragma once
// Building blocks of sparse training methods, so a method plugin reads as
// its algorithm: exact top-k selection within a subset, and the shared
// state of the methods that change their topology during training
// (masks, update timing, drop-fraction schedule, generator).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/schedule.hpp"

namespace cigl {

/// Flat indices of the `k` entries of `scores` with the smallest values
/// among those where `among` is true. NaN counts as the largest value. On
/// the CPU they come in ascending order and ties go to the lower index,
/// whatever the LibTorch version (a radix select: linear time); on a GPU
/// LibTorch's topk decides ties. Throws if fewer than k qualify.
CIGL_API torch::Tensor smallest_among(const torch::Tensor& scores,
                                      const torch::Tensor& among,
                                      std::int64_t k);
/// The same for the largest values.
CIGL_API torch::Tensor largest_among(const torch::Tensor& scores,
                                     const torch::Tensor& among,
                                     std::int64_t k);

/// A point in training given as a fraction of all steps ("fraction"),
/// in "epochs" or in "steps", converted to a step index.
CIGL_API std::int64_t timing_to_step(double value, const std::string& unit,
                                     const TrainContext& context);

/// Masks plus the topology-update timetable shared by SET, SNFS, RigL and
/// CigL. Topology updates happen at steps t > 0 with t % update_interval
/// == 0 and begin <= t < end; at such a step each layer with n active
/// weights drops and regrows floor(drop_fraction(t) * n) of them.
///
/// With `update_rule = "sparselearning"` (declared by rigl and cigl) the
/// update is the one of the sparselearning code that the CigL paper's
/// numbers come from (StevenBoys/CigL, built on
/// varun19299/rigl-reproducibility), see drop_and_grow().
class CIGL_API DynamicSparsity {
 public:
  /// The parameters every dynamic method declares.
  static std::vector<ParamSpec> params(const std::string& default_distribution);
  /// `update_rule`: "exact" (RigL as Google's reference: exact counts, the
  /// density never moves) or "sparselearning".
  static ParamSpec update_rule_param();

  explicit DynamicSparsity(const Params& params);

  /// Draws the initial masks from the distribution (seeded from the
  /// experiment seed and `stream`), zeroes the inactive weights and builds
  /// the drop-fraction schedule over [0, end).
  void setup(TrainContext& context, std::uint64_t stream);

  bool update_due(const TrainContext& context) const;
  /// Whether the step that has `step` steps before it updates the topology.
  bool update_due_at(std::int64_t step) const;
  double drop_fraction(std::int64_t step) const;
  /// floor(drop_fraction(step) * active weights of layer i).
  std::int64_t drop_count(std::size_t i, std::int64_t step) const;

  MaskSet& masks() { return masks_; }
  const MaskSet& masks() const { return masks_; }
  torch::Generator& generator() { return generator_; }
  std::int64_t end_step() const { return end_; }
  /// How many of the steps 0 .. total_steps - 1 update the topology.
  std::int64_t update_steps(std::int64_t total_steps) const;

  /// The update of SET, RigL and CigL: in every layer drop the k =
  /// drop_count() active weights of smallest magnitude, then grow the k
  /// connections with the largest `grow_score(i)` among those inactive
  /// after the drop (a just-dropped one may return), via replace_mask.
  ///
  /// With update_rule "sparselearning", as sparselearning's
  /// magnitude_prune and abs_grad_growth (funcs/prune.py:24-51,
  /// funcs/grow.py:58-97) with Masking.adjust_prune_rate and
  /// truncate_weights (core.py:258-277, 787-865): updates fall at steps
  /// t with (t + 1) % interval == 0 (main.py:73-79) and use the drop
  /// fraction of step t - 1; a layer above density 0.8 that holds more
  /// than its 1/L share of the non-zero weights drops at most its
  /// sparsity; it drops ceil(fraction * active) weights, ranking |w|
  /// over the whole tensor; it grows the top `removed` entries of
  /// grow_score among the inactive ones, so when fewer inactive entries
  /// score above zero it grows fewer (the density drifts down), and every
  /// grown entry, a just-dropped one included, is set to 0 with its
  /// optimizer state kept.
  void drop_and_grow(
      TrainContext& context,
      const std::function<torch::Tensor(std::size_t layer)>& grow_score);
  bool sparselearning_rule() const { return sparselearning_; }

  /// MaskSet::replace on this method's masks.
  void replace_mask(std::size_t i, const torch::Tensor& mask,
                    Optimizer& optimizer, bool reset_grown_state = true);

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  void drop_and_grow_sparselearning(
      TrainContext& context,
      const std::function<torch::Tensor(std::size_t layer)>& grow_score);

  double density_;
  ComponentRef distribution_, drop_schedule_;
  std::int64_t interval_;
  double begin_value_, end_value_;
  std::string unit_;
  double prune_rate_;
  bool sparselearning_;
  std::int64_t begin_ = 0, end_ = 0;
  MaskSet masks_;
  torch::Generator generator_;
  std::shared_ptr<Schedule> schedule_;
};

/// Base of the methods whose mask only loses connections or never changes
/// after setup (static, SNIP, GMP): holds the masks, masks gradients after
/// backward (masked gradients keep inactive weights exactly zero through
/// momentum and weight decay), and saves and loads the masks.
class CIGL_API MaskedMethod : public Method {
 public:
  ~MaskedMethod() override;
  void after_backward(TrainContext& context) override;
  const MaskSet* mask_set() const override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 protected:
  MaskSet masks_;
};

/// Base of the methods that change their topology during training (SET,
/// SNFS, RigL, CigL): holds the DynamicSparsity state and does the
/// bookkeeping, so a method adds only its update_topology and whatever
/// else it changes. Setup draws the masks, updates are due by the
/// timetable, gradients of inactive weights are masked after backward,
/// and the state saves and loads.
class CIGL_API DynamicSparseMethod : public Method {
 public:
  /// `stream` separates this method's random numbers from other methods'.
  DynamicSparseMethod(const Params& params, std::uint64_t stream);
  ~DynamicSparseMethod() override;

  void setup(TrainContext& context) override;
  bool topology_update_due(const TrainContext& context) const override;
  /// The update grows by the dense gradient (RigL, CigL): true at updates.
  bool needs_dense_gradient(const TrainContext& context) const override;
  void after_backward(TrainContext& context) override;
  const MaskSet* mask_set() const override;
  /// RigL's count: update steps take the dense gradient (2 f_S + f_D), the
  /// others 3 f_S. Methods that grow without gradients (SET) or take the
  /// dense gradient every step (SNFS) override it.
  double training_flops(const ForwardFlops& forward,
                        const TrainContext& context) const override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 protected:
  DynamicSparsity sparse_;

 private:
  std::uint64_t stream_;
};

/// Recomputes BatchNorm running statistics of `model` with one pass over
/// the training data in train mode (cumulative average), as needed after
/// weights are averaged. Does nothing for a model without BatchNorm. In a
/// data-parallel run the ranks share the batches out and combine their
/// statistics: every rank ends with those of one pass over all the data.
CIGL_API void recompute_batchnorm(TrainContext& context);

}  // namespace cigl
