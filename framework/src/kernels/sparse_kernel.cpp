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
  // The sparse weight gradient accumulates into a dense .grad (O(nnz));
  // autograd would keep a sparse one if none existed yet.
  if (torch::GradMode::is_enabled() && weight.requires_grad() &&
      !weight.grad().defined()) {
    weight.mutable_grad() = torch::zeros_like(weight);
  }
  if (torch::GradMode::is_enabled()) ran_sparse_ = true;
  if (op_.kind == SparseOp::Kind::linear) {
    return kernels::sparse_linear(input, weight, bias, compressed());
  }
  return kernels::sparse_conv2d(input, weight, bias, compressed(), op_.padding);
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
