// SGD on a weight's active entries only (see sparse_ops.hpp).
#include <ATen/Parallel.h>

#include "cigl/core/sparse_ops.hpp"
#include "leaf.hpp"

namespace cigl::kernels {

void masked_sgd_step(const CompressedMask& mask, const at::Tensor& weight,
                     const at::Tensor& grad, const at::Tensor& grad_values,
                     const at::Tensor& momentum_buffer, bool first,
                     const SgdOptions& o, const at::Tensor& weight_values) {
  TORCH_CHECK(weight.is_contiguous() && grad.is_contiguous() &&
                  weight.scalar_type() == at::kFloat &&
                  grad.scalar_type() == at::kFloat &&
                  weight.sizes().vec() == mask.shape &&
                  grad.sizes() == weight.sizes(),
              "masked_sgd_step: contiguous float32 weight and gradient of "
              "the mask's shape expected");
  TORCH_CHECK(
      !grad_values.defined() || (grad_values.is_contiguous() &&
                                 grad_values.scalar_type() == at::kFloat &&
                                 grad_values.numel() == mask.nnz()),
      "masked_sgd_step: one float32 gradient value per entry expected");
  TORCH_CHECK(
      !weight_values.defined() || (weight_values.is_contiguous() &&
                                   weight_values.scalar_type() == at::kFloat &&
                                   weight_values.numel() == mask.nnz()),
      "masked_sgd_step: one float32 weight value per entry expected");
  const bool momentum = o.momentum != 0;
  // Compact: one value per entry. Where that has the weight's own shape
  // (a fully dense 1-D weight), entry k is element k and both read alike.
  const bool by_entry = momentum && momentum_buffer.dim() == 1 &&
                        momentum_buffer.sizes() != weight.sizes() &&
                        momentum_buffer.numel() == mask.nnz();
  TORCH_CHECK(
      !momentum || (momentum_buffer.is_contiguous() &&
                    (by_entry || momentum_buffer.sizes() == weight.sizes()) &&
                    momentum_buffer.scalar_type() == at::kFloat),
      "masked_sgd_step: a contiguous float32 momentum buffer of the "
      "weight's shape, or of one value per entry, expected");
  const SgdStep step{static_cast<float>(o.lr),
                     static_cast<float>(o.momentum),
                     static_cast<float>(o.dampening),
                     static_cast<float>(o.weight_decay),
                     o.nesterov,
                     first,
                     by_entry};
  float* w = weight.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  const float* gk =
      grad_values.defined() ? grad_values.data_ptr<float>() : nullptr;
  float* buf = momentum ? momentum_buffer.data_ptr<float>() : nullptr;
  float* w_out =
      weight_values.defined() ? weight_values.data_ptr<float>() : nullptr;
  const Leaf& leaf = kernels::leaf();
  const std::int64_t per_row = std::max<std::int64_t>(
      1, mask.nnz() / std::max<std::int64_t>(1, mask.rows));
  at::parallel_for(0, mask.rows, std::max<std::int64_t>(1, 8192 / per_row),
                   [&](std::int64_t r0, std::int64_t r1) {
                     leaf.sgd(mask.row_begin.data(), mask.col.data(), mask.cols,
                              step, w, g, gk, buf, w_out, r0, r1);
                   });
  // Written in place through raw pointers: tell autograd, as in-place
  // operations do.
  weight.unsafeGetTensorImpl()->bump_version();
  if (momentum) momentum_buffer.unsafeGetTensorImpl()->bump_version();
  if (w_out) weight_values.unsafeGetTensorImpl()->bump_version();
}

}  // namespace cigl::kernels
