#pragma once
// Weight averaging, a component of the training loop that works with any
// method (the `[averaging]` section): from a given epoch on, inclusive,
// each epoch end adds the model's parameters to a running mean; the final
// model is the mean, with BatchNorm statistics recomputed over the
// augmented training data. This is CigL's "weight and mask averaging" as
// its official code runs it (main.py:379-391 of StevenBoys/CigL: snapshots
// from epoch `begin_save` on, `bn_update` over the training loader), so
// CigL is `cigl` (RigL plus the random mask) with `[averaging]`.
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "cigl/method.hpp"
#include "cigl/params.hpp"

namespace cigl {

class CIGL_API WeightAveraging {
 public:
  /// The resolved `[averaging]` section (see averaging_specs()).
  explicit WeightAveraging(const Params& params);

  bool enabled() const { return enabled_; }
  /// The first epoch (1-based) whose end joins the average in a run of
  /// `epochs` epochs: `from` itself, or round(from * epochs) for a
  /// fraction, at least 1.
  std::int64_t first_epoch(std::int64_t epochs) const;
  /// Snapshots averaged so far.
  std::int64_t count() const { return count_; }

  /// At the end of epoch `epoch` (1-based): adds the method's
  /// averaging_snapshot() to the mean if the epoch is in the window.
  void on_epoch_end(std::int64_t epoch, const TrainContext& context,
                    const Method& method);

  /// Copies the mean into the model's parameters and, with more than one
  /// snapshot and recompute_batchnorm, recomputes its BatchNorm statistics
  /// (cumulative average) over the batches `training_batches` hands out.
  /// One snapshot is the model itself: it is left as it is, as the
  /// official code does. Returns whether the model changed.
  bool apply(
      TrainContext& context,
      const std::function<void(
          const std::function<void(const torch::Tensor&,
                                   const torch::Tensor&)>&)>& training_batches);

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  bool enabled_;
  double from_;
  bool fraction_;
  bool recompute_batchnorm_;
  std::vector<torch::Tensor> mean_;
  std::int64_t count_ = 0;
};

}  // namespace cigl
