#include "cigl/layers.hpp"

#include <torch/version.h>

#include <variant>

#include "kernels/sparse_kernel.hpp"

namespace cigl {

namespace {
// The options' enum variants are std::variant from LibTorch 2 on (whose
// c10 no longer has get_if), c10::variant in 1.13.
#if TORCH_VERSION_MAJOR >= 2
using std::get_if;
#else
using c10::get_if;
#endif
}  // namespace

SparseCapable::~SparseCapable() = default;

void SparseCapable::attach_kernel(std::shared_ptr<SparseKernel> kernel) {
  kernel_ = std::move(kernel);
}

namespace nn {

torch::Tensor LinearImpl::forward(const torch::Tensor& input) {
  if (kernel_ && kernel_->runs_sparse(input, weight)) {
    return kernel_->forward(input, weight, bias);
  }
  return torch::nn::LinearImpl::forward(input);
}

SparseOp LinearImpl::sparse_op() const { return {}; }

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  if (kernel_ && kernel_->runs_sparse(input, weight)) {
    return kernel_->forward(input, weight, bias);
  }
  return torch::nn::Conv2dImpl::forward(input);
}

SparseOp Conv2dImpl::sparse_op() const {
  SparseOp op;
  op.kind = SparseOp::Kind::conv2d;
  const auto& o = options;
  auto ones = [](const torch::ExpandingArray<2>& a) {
    return (*a)[0] == 1 && (*a)[1] == 1;
  };
  if (!ones(o.stride())) op.unsupported = "stride other than 1";
  if (!ones(o.dilation())) op.unsupported = "dilation other than 1";
  if (o.groups() != 1) op.unsupported = "grouped convolution";
  if (!get_if<torch::enumtype::kZeros>(&o.padding_mode())) {
    op.unsupported = "padding mode other than zeros";
  }
  if (const auto* p = get_if<torch::ExpandingArray<2>>(&o.padding())) {
    op.padding = {(**p)[0], (**p)[1]};
  } else if (get_if<torch::enumtype::kValid>(&o.padding())) {
    op.padding = {0, 0};
  } else {
    op.unsupported = "padding \"same\"";
  }
  return op;
}

}  // namespace nn
}  // namespace cigl
