// The weight gradient's way out of a sparse layer's autograd function,
// shared by the Linear and Conv2d kernels: forward saves where the
// gradient goes and whom to tell (WeightGradientOutput), backward scatters
// the gradient's values into it.
#pragma once

#include <torch/csrc/autograd/custom_function.h>

#include "cigl/core/sparse_ops.hpp"

namespace cigl::kernels {

/// Saves `gradient`'s buffer and hook in the forward pass's context.
void save_weight_gradient_output(torch::autograd::AutogradContext* ctx,
                                 const WeightGradientOutput& gradient);

/// The weight gradient from its values (entry order): into the buffer the
/// forward pass saved (taken out of the context, so that autograd gets the
/// only reference and keeps it without a copy), or a new tensor; the
/// saved hook is told.
at::Tensor weight_gradient(torch::autograd::AutogradContext* ctx,
                           const CompressedMask& mask,
                           const at::Tensor& values);

}  // namespace cigl::kernels
