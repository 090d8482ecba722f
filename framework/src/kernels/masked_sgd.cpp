// SGD on a weight's active entries only (see sparse_ops.hpp).
#include <ATen/Parallel.h>

#include "cigl/core/sparse_ops.hpp"
#include "leaf.hpp"

namespace cigl::kernels {

void masked_sgd_step(const CompressedMask& mask, const at::Tensor& weight,
                     const at::Tensor& grad, const at::Tensor& momentum_buffer,
                     bool first, const SgdOptions& o) {
  TORCH_CHECK(weight.is_contiguous() && grad.is_contiguous() &&
                  weight.scalar_type() == at::kFloat &&
                  grad.scalar_type() == at::kFloat &&
                  weight.sizes().vec() == mask.shape &&
                  grad.sizes() == weight.sizes(),
              "masked_sgd_step: contiguous float32 weight and gradient of "
              "the mask's shape expected");
  const bool momentum = o.momentum != 0;
  TORCH_CHECK(!momentum || (momentum_buffer.is_contiguous() &&
                            momentum_buffer.sizes() == weight.sizes() &&
                            momentum_buffer.scalar_type() == at::kFloat),
              "masked_sgd_step: a contiguous float32 momentum buffer of the "
              "weight's shape expected");
  const SgdStep step{static_cast<float>(o.lr),
                     static_cast<float>(o.momentum),
                     static_cast<float>(o.dampening),
                     static_cast<float>(o.weight_decay),
                     o.nesterov,
                     first};
  float* w = weight.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* buf = momentum ? momentum_buffer.data_ptr<float>() : nullptr;
  const Leaf& leaf = kernels::leaf();
  const std::int64_t per_row = std::max<std::int64_t>(
      1, mask.nnz() / std::max<std::int64_t>(1, mask.rows));
  at::parallel_for(0, mask.rows, std::max<std::int64_t>(1, 8192 / per_row),
                   [&](std::int64_t r0, std::int64_t r1) {
                     leaf.sgd(mask.row_begin.data(), mask.col.data(), mask.cols,
                              step, w, g, buf, r0, r1);
                   });
}

}  // namespace cigl::kernels
