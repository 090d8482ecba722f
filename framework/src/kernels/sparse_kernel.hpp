#pragma once
// The sparse kernels of one layer, attached by KernelRouting: decides per
// call whether to compute sparsely, and keeps the layer's compressed mask
// in step with its MaskSet.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "cigl/core/sparse_ops.hpp"
#include "cigl/layers.hpp"

namespace cigl {

class MaskSet;

/// Shared by a model's kernels: set per training step.
struct KernelStep {
  bool dense_gradient = false;
};

class SparseKernel {
 public:
  SparseKernel(const MaskSet& masks, std::size_t layer, SparseOp op,
               std::shared_ptr<const KernelStep> step);

  /// Whether this forward call computes sparsely: chosen sparse, not a
  /// step needing dense gradients (with gradients on), no
  /// DenseKernelsGuard, a CPU float32 input of the op's rank.
  bool runs_sparse(const torch::Tensor& input, const torch::Tensor& weight);
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& weight,
                        const torch::Tensor& bias);
  /// The dense computation of the same op (LibTorch's kernels).
  torch::Tensor dense_forward(const torch::Tensor& input,
                              const torch::Tensor& weight,
                              const torch::Tensor& bias) const;

  /// Whether forward() ran since the last clear_ran_sparse(): the
  /// layer's weight gradient of this step is then zero at inactive entries.
  bool ran_sparse() const { return ran_sparse_; }
  void clear_ran_sparse() { ran_sparse_ = false; }

  void set_sparse(bool sparse) { sparse_ = sparse; }
  bool sparse() const { return sparse_; }
  const SparseOp& op() const { return op_; }
  std::size_t layer() const { return layer_; }

  /// Records the shape of the next inputs, and whether they need a
  /// gradient (not the data itself), to time the layer on them.
  void probe(bool on) { probing_ = on; }
  const std::vector<std::int64_t>& probed_shape() const { return shape_; }
  bool probed_input_grad() const { return input_grad_; }

  /// The compressed mask, rebuilt when the MaskSet's version of the layer
  /// changed since the last call.
  const c10::intrusive_ptr<kernels::CompressedMask>& compressed();

  /// The values at the active entries of `grad` if it is the weight
  /// gradient the last sparse backward pass made, unchanged since, on the
  /// current mask; else undefined.
  torch::Tensor gradient_values(const torch::Tensor& grad);

  /// SGD on the layer's active entries (kernels::masked_sgd_step), with
  /// the gradient's compact values where they are still valid; keeps the
  /// new weight values for the next forward pass. The momentum of the
  /// entries is kept compact, in entry order, from one such step to the
  /// next: `momentum_buffer` (the optimizer's own, the weight's shape) is
  /// read once, and lags behind until write_back_momentum().
  void sgd_step(const torch::Tensor& weight, const torch::Tensor& grad,
                const torch::Tensor& momentum_buffer, bool first,
                const kernels::SgdOptions& options);
  /// Brings the optimizer's momentum buffer up to date with the compact
  /// momentum, where sgd_step left it behind.
  void write_back_momentum();
  /// Drops the compact momentum without writing it back (the optimizer's
  /// state was replaced, as by loading a checkpoint).
  void forget_momentum() { momentum_.reset(); }
  /// Drops what this kernel knows of the weight and its momentum after
  /// the optimizer's own step changed them: LibTorch's SGD writes through
  /// .data(), which leaves the version counters as they were.
  void forget_optimizer_state() {
    momentum_.reset();
    known_values_.reset();
  }

  /// Offers last step's weight gradient, just unset from the weight, for
  /// the next backward pass to write into: kept where nothing else refers
  /// to it, and zeroed (at the old entries only, where this kernel made it
  /// and it is unchanged) before it is handed over.
  void recycle(torch::Tensor gradient);

 private:
  const MaskSet& masks_;
  std::size_t layer_;
  SparseOp op_;
  std::shared_ptr<const KernelStep> step_;
  bool sparse_ = false;
  bool probing_ = false;
  bool ran_sparse_ = false;
  std::vector<std::int64_t> shape_;
  bool input_grad_ = false;
  c10::intrusive_ptr<kernels::CompressedMask> compressed_;
  std::uint64_t version_ = 0;  ///< of the mask compressed_ holds

  /// The last weight gradient a sparse backward pass made (weakly: autograd
  /// takes it as the .grad), its values, and the mask they are on.
  struct LastGradient {
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    std::int64_t version;
    torch::Tensor values;
    c10::intrusive_ptr<kernels::CompressedMask> mask;
  };
  std::shared_ptr<std::optional<LastGradient>> last_gradient_ =
      std::make_shared<std::optional<LastGradient>>();
  /// Whether `grad` is the last gradient made here, unchanged.
  bool is_last_gradient(const torch::Tensor& grad) const;
  /// The weight's values at the entries as the last sgd_step left them,
  /// valid while the weight is unchanged since (same storage and version)
  /// and the mask the same.
  struct KnownValues {
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    std::int64_t version;
    torch::Tensor values;
    c10::intrusive_ptr<kernels::CompressedMask> mask;
  };
  std::optional<KnownValues> known_values_;
  /// The momentum at the entries of `mask`, in entry order, mirroring the
  /// optimizer's buffer `dense`: both agreed when `dense` had version
  /// `dense_version`, and `ahead` says sgd_step has moved on since.
  struct CompactMomentum {
    torch::Tensor values;
    c10::intrusive_ptr<kernels::CompressedMask> mask;
    torch::Tensor dense;
    std::int64_t dense_version = 0;
    bool ahead = false;
  };
  std::optional<CompactMomentum> momentum_;
  /// The compact momentum to step with `dense` as the optimizer's buffer:
  /// kept if still valid, else gathered from `dense` afresh (not read on
  /// SGD's first step, which overwrites it).
  torch::Tensor compact_momentum(const torch::Tensor& dense, bool first);
  torch::Tensor known_values(const torch::Tensor& weight);
  torch::Tensor spare_;  ///< a gradient buffer to write into, see recycle
  c10::intrusive_ptr<kernels::CompressedMask>
      spare_support_;  ///< its
                       ///< only non-zeros; null: anywhere
};

}  // namespace cigl
