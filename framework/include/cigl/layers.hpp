#pragma once
// Linear and Conv2d layers that can run sparse kernels; models use them in
// place of torch::nn::Linear and torch::nn::Conv2d. They derive from the
// torch layers, so masks, costs and initialisation see the same modules
// and parameters, and by default they compute exactly what the torch
// layers compute. With training.sparse_kernels = "on" or "auto" the trainer
// attaches a SparseKernel to each one whose weight the method masks; the
// layer's forward pass then multiplies by the compressed active weights
// (cigl/core/kernel_routing.hpp; docs/kernels.md).
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "cigl/export.hpp"

namespace cigl {

class SparseKernel;  // the core's; see cigl/core/kernel_routing.hpp

/// What a sparse-capable layer computes, as the kernels need to know it.
struct SparseOp {
  enum class Kind { linear, conv2d };
  Kind kind = Kind::linear;
  std::array<std::int64_t, 2> padding{0, 0};  ///< conv2d: zeros per side
  /// Why the sparse kernels cannot compute this layer ("stride 2"), or ""
  /// when they can.
  std::string unsupported;
};

/// A layer whose forward pass can run sparse kernels.
class CIGL_API SparseCapable {
 public:
  virtual ~SparseCapable();
  /// The weight the kernels compress, and the bias (may be undefined).
  virtual const torch::Tensor& kernel_weight() const = 0;
  virtual const torch::Tensor& kernel_bias() const = 0;
  virtual SparseOp sparse_op() const = 0;
  /// Set by the trainer; nullptr (the default) computes densely.
  void attach_kernel(std::shared_ptr<SparseKernel> kernel);
  const std::shared_ptr<SparseKernel>& kernel() const { return kernel_; }

 protected:
  std::shared_ptr<SparseKernel> kernel_;
};

namespace nn {

class CIGL_API LinearImpl : public torch::nn::LinearImpl, public SparseCapable {
 public:
  using torch::nn::LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& input);
  const torch::Tensor& kernel_weight() const override { return weight; }
  const torch::Tensor& kernel_bias() const override { return bias; }
  SparseOp sparse_op() const override;
};
TORCH_MODULE(Linear);

class CIGL_API Conv2dImpl : public torch::nn::Conv2dImpl, public SparseCapable {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;
  torch::Tensor forward(const torch::Tensor& input);
  const torch::Tensor& kernel_weight() const override { return weight; }
  const torch::Tensor& kernel_bias() const override { return bias; }
  SparseOp sparse_op() const override;
};
TORCH_MODULE(Conv2d);

}  // namespace nn
}  // namespace cigl
