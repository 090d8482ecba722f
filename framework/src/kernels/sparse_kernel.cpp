#include "sparse_kernel.hpp"

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/linear.h>

#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/sparse_ops.hpp"
#include "cigl/masking.hpp"

namespace cigl {

SparseKernel::SparseKernel(const MaskSet& masks, std::size_t layer, SparseOp op,
                           std::shared_ptr<const KernelStep> step)
    : masks_(masks),
      layer_(layer),
      op_(std::move(op)),
      step_(std::move(step)) {}

bool SparseKernel::runs_sparse(const torch::Tensor& input,
                               const torch::Tensor& weight) {
  if (probing_) {
    shape_ = input.sizes().vec();
    input_grad_ = input.requires_grad();
  }
  if (!sparse_ || DenseKernelsGuard::active()) return false;
  if (torch::GradMode::is_enabled() && step_->dense_gradient) return false;
  const std::int64_t rank = op_.kind == SparseOp::Kind::linear ? 2 : 4;
  return input.dim() == rank && input.is_cpu() &&
         input.scalar_type() == torch::kFloat &&
         weight.scalar_type() == torch::kFloat && weight.is_cpu();
}

const c10::intrusive_ptr<kernels::CompressedMask>& SparseKernel::compressed() {
  const auto version = masks_.version(layer_);
  if (!compressed_ || version != version_) {
    compressed_ =
        c10::make_intrusive<kernels::CompressedMask>(masks_.mask(layer_));
    version_ = version;
  }
  return compressed_;
}

torch::Tensor SparseKernel::forward(const torch::Tensor& input,
                                    const torch::Tensor& weight,
                                    const torch::Tensor& bias) {
  kernels::WeightGradientOutput gradient;
  if (torch::GradMode::is_enabled()) {
    ran_sparse_ = true;
    if (spare_.defined()) {
      // Where its non-zeros are this mask's entries, the backward pass
      // overwrites them all; else they are cleared first.
      if (!spare_support_) {
        spare_.zero_();
      } else if (spare_support_ != compressed()) {
        spare_support_->clear_entries(spare_.data_ptr<float>());
      }
      gradient.buffer = std::move(spare_);
      spare_ = torch::Tensor();
      spare_support_.reset();
    }
  }
  const auto& mask = compressed();
  // The backward pass vouches for its gradient: zero at inactive entries,
  // which spares the method's gradient masking and lets the optimizer step
  // read the values compactly. The hook holds what it needs, not this.
  gradient.hook = [masks = &masks_, layer = layer_, last = last_gradient_,
                   mask](const at::Tensor& grad, const at::Tensor& values) {
    masks->note_masked_gradient(layer, grad);
    *last = LastGradient{grad.storage().getWeakStorageImpl(), grad._version(),
                         values, mask};
  };
  const torch::Tensor values = known_values(weight);
  if (op_.kind == SparseOp::Kind::linear) {
    return kernels::sparse_linear(input, weight, bias, mask,
                                  std::move(gradient), values);
  }
  return kernels::sparse_conv2d(input, weight, bias, mask, op_.padding,
                                std::move(gradient), values);
}

torch::Tensor SparseKernel::known_values(const torch::Tensor& weight) {
  if (!known_values_) return {};
  const auto storage = known_values_->storage.lock();
  if (!storage || storage.get() != weight.storage().unsafeGetStorageImpl() ||
      weight._version() != known_values_->version ||
      known_values_->mask != compressed()) {
    known_values_.reset();
    return {};
  }
  return known_values_->values;
}

void SparseKernel::sgd_step(const torch::Tensor& weight,
                            const torch::Tensor& grad,
                            const torch::Tensor& momentum_buffer, bool first,
                            const kernels::SgdOptions& options) {
  const auto& mask = compressed();
  const bool compact = options.momentum != 0 && momentum_buffer.defined() &&
                       momentum_buffer.is_contiguous() &&
                       momentum_buffer.scalar_type() == torch::kFloat &&
                       momentum_buffer.sizes() == weight.sizes();
  const torch::Tensor momentum =
      compact ? compact_momentum(momentum_buffer, first) : momentum_buffer;
  // A new tensor each time: the last one may still be saved in a graph.
  torch::Tensor values = torch::empty({mask->nnz()}, weight.options());
  kernels::masked_sgd_step(*mask, weight, grad, gradient_values(grad), momentum,
                           first, options, values);
  if (compact) momentum_->ahead = true;
  known_values_ = KnownValues{weight.storage().getWeakStorageImpl(),
                              weight._version(), values, mask};
}

torch::Tensor SparseKernel::compact_momentum(const torch::Tensor& dense,
                                             bool first) {
  const auto& mask = compressed();
  if (momentum_) {
    const bool agrees = momentum_->dense.is_same(dense) &&
                        dense._version() == momentum_->dense_version;
    if (agrees && momentum_->mask == mask && !first) return momentum_->values;
    // A new mask: the old entries' momentum goes back first. A buffer
    // changed by someone else since: their values stand.
    if (agrees) write_back_momentum();
    momentum_.reset();
  }
  CompactMomentum m;
  m.mask = mask;
  m.dense = dense;
  m.values = torch::empty({mask->nnz()}, dense.options());
  if (!first) mask->gather(dense.data_ptr<float>(), m.values.data_ptr<float>());
  m.dense_version = dense._version();
  momentum_ = std::move(m);
  return momentum_->values;
}

void SparseKernel::write_back_momentum() {
  if (!momentum_ || !momentum_->ahead) return;
  CompactMomentum& m = *momentum_;
  if (m.dense._version() != m.dense_version) {
    momentum_.reset();  // changed by someone else since: theirs stand
    return;
  }
  m.mask->to_dense(m.values, m.dense);
  m.dense.unsafeGetTensorImpl()->bump_version();
  m.dense_version = m.dense._version();
  m.ahead = false;
}

bool SparseKernel::is_last_gradient(const torch::Tensor& grad) const {
  if (!*last_gradient_ || !grad.defined()) return false;
  const auto& last = **last_gradient_;
  const auto storage = last.storage.lock();
  return storage && storage.get() == grad.storage().unsafeGetStorageImpl() &&
         grad.storage_offset() == 0 && grad.is_contiguous() &&
         grad._version() == last.version;
}

void SparseKernel::recycle(torch::Tensor gradient) {
  spare_ = torch::Tensor();
  spare_support_.reset();
  if (!gradient.defined() || !gradient.is_contiguous() ||
      gradient.storage_offset() != 0 ||
      gradient.scalar_type() != torch::kFloat || !gradient.is_cpu() ||
      gradient.use_count() != 1 || gradient.storage().use_count() != 1 ||
      gradient.sizes().vec() != masks_.weight(layer_).sizes().vec()) {
    return;  // someone else may read it: leave it to them
  }
  if (is_last_gradient(gradient)) spare_support_ = (*last_gradient_)->mask;
  spare_ = std::move(gradient);
}

torch::Tensor SparseKernel::gradient_values(const torch::Tensor& grad) {
  if (!is_last_gradient(grad) || (*last_gradient_)->mask != compressed()) {
    return {};
  }
  return (*last_gradient_)->values;
}

torch::Tensor SparseKernel::dense_forward(const torch::Tensor& input,
                                          const torch::Tensor& weight,
                                          const torch::Tensor& bias) const {
  if (op_.kind == SparseOp::Kind::linear) {
    return torch::nn::functional::linear(input, weight, bias);
  }
  return torch::conv2d(input, weight, bias, 1,
                       {op_.padding[0], op_.padding[1]});
}

}  // namespace cigl
