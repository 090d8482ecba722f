// Sparse Linear (see sparse_ops.hpp). Activations are handled feature-major
// ({features, batch}, batch innermost): every active weight then scales a
// contiguous run of the batch, which the leaf loops vectorise. The output
// is allocated with that layout and presented as {batch, out}, so a chain
// of sparse layers (with ReLUs between) never transposes.
#include <torch/csrc/autograd/custom_function.h>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/empty_strided.h>

#include "cigl/core/sparse_ops.hpp"
#include "leaf.hpp"
#include "weight_gradient.hpp"

namespace cigl::kernels {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Rows per task: enough multiply-adds that a task outweighs its start.
std::int64_t grain(std::int64_t rows, std::int64_t entries, std::int64_t n) {
  const std::int64_t per_row =
      std::max<std::int64_t>(1, entries * n / std::max<std::int64_t>(1, rows));
  return std::max<std::int64_t>(1, 32768 / per_row);
}

/// A {batch, features} tensor laid out feature-major: element (b, f) at
/// f * batch + b.
at::Tensor feature_major(std::int64_t batch, std::int64_t features,
                         const at::TensorOptions& options) {
  return at::empty_strided({batch, features}, {1, batch}, options);
}

/// x {batch, features} as a row-major {features, batch} tensor: free when x
/// is feature-major already (a sparse layer's output), else one transpose,
/// the leaf's (LibTorch's strided copy is about 4x slower, a tenth of a
/// LeNet-300-100 step on the sparse path).
at::Tensor features_by_batch(const at::Tensor& x) {
  const at::Tensor xt = x.t();
  if (xt.is_contiguous() || !x.is_contiguous() ||
      x.scalar_type() != at::kFloat) {
    return xt.contiguous();
  }
  const std::int64_t rows = x.size(0), cols = x.size(1);
  at::Tensor out = at::empty({cols, rows}, x.options());
  const auto* in = x.data_ptr<float>();
  auto* o = out.data_ptr<float>();
  const Leaf& leaf = kernels::leaf();
  // Bands of whole 8-row tiles, some 64K elements each.
  const std::int64_t band =
      std::max<std::int64_t>(8, (65536 / std::max<std::int64_t>(1, cols)) & ~7);
  at::parallel_for(0, rows, band, [&](std::int64_t r0, std::int64_t r1) {
    leaf.transpose(in, rows, cols, o, r0, r1);
  });
  return out;
}

struct SparseLinearFunction : torch::autograd::Function<SparseLinearFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight,
                            const c10::optional<at::Tensor>& bias_in,
                            const c10::intrusive_ptr<CompressedMask>& mask,
                            const WeightGradientOutput& gradient,
                            const c10::optional<at::Tensor>& known_values) {
    const std::int64_t batch = x.size(0), out = weight.size(0);
    const at::Tensor xt = features_by_batch(x);  // {in, batch}
    const at::Tensor w = weight.contiguous();
    at::Tensor values = known_values.value_or(at::Tensor());
    if (!values.defined()) {
      values = at::empty({mask->nnz()}, w.options());
      mask->gather(w.data_ptr<float>(), values.data_ptr<float>());
    }
    at::Tensor y = feature_major(batch, out, x.options());
    const at::Tensor bias = bias_in.value_or(at::Tensor());
    const at::Tensor b = bias.defined() ? bias.contiguous() : bias;
    const SparseRows rows{mask->row_begin.data(), mask->col.data(),
                          values.data_ptr<float>()};
    const Leaf& leaf = kernels::leaf();
    if (batch > 0) {
      at::parallel_for(0, out, grain(out, mask->nnz(), batch),
                       [&](std::int64_t r0, std::int64_t r1) {
                         leaf.spmm(rows, xt.data_ptr<float>(), batch,
                                   b.defined() ? b.data_ptr<float>() : nullptr,
                                   y.data_ptr<float>(), batch, batch, r0, r1);
                       });
    }
    ctx->saved_data["xt"] = xt;
    ctx->saved_data["values"] = values;
    ctx->saved_data["mask"] = c10::IValue::make_capsule(mask);
    save_weight_gradient_output(ctx, gradient);
    ctx->saved_data["has_bias"] = bias.defined();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor xt = ctx->saved_data["xt"].toTensor();
    const at::Tensor values = ctx->saved_data["values"].toTensor();
    const auto mask = c10::static_intrusive_pointer_cast<CompressedMask>(
        ctx->saved_data["mask"].toCapsule());
    const std::int64_t in = xt.size(0), batch = xt.size(1);
    const std::int64_t out = mask->rows;
    const at::Tensor gt = features_by_batch(grads[0]);  // {out, batch}
    const Leaf& leaf = kernels::leaf();
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) {
      // dx^T = W^T dy^T: walk the weight by column, so each input feature
      // sums its entries in registers.
      at::Tensor by_column = at::empty_like(values);
      mask->to_column_order(values.data_ptr<float>(),
                            by_column.data_ptr<float>());
      const SparseRows columns{mask->column_begin.data(),
                               mask->column_row.data(),
                               by_column.data_ptr<float>()};
      dx = feature_major(batch, in, gt.options());
      if (batch > 0) {
        at::parallel_for(0, in, grain(in, mask->nnz(), batch),
                         [&](std::int64_t c0, std::int64_t c1) {
                           leaf.spmm(columns, gt.data_ptr<float>(), batch,
                                     nullptr, dx.data_ptr<float>(), batch,
                                     batch, c0, c1);
                         });
      } else {
        dx.zero_();
      }
    }
    if (ctx->needs_input_grad(1)) {
      // dW = dy^T x at the active entries only.
      at::Tensor g = at::empty_like(values);
      if (batch > 0) {
        at::parallel_for(0, out, grain(out, mask->nnz(), batch),
                         [&](std::int64_t r0, std::int64_t r1) {
                           leaf.sddmm(mask->row_begin.data(), mask->col.data(),
                                      gt.data_ptr<float>(), batch,
                                      xt.data_ptr<float>(), batch, batch,
                                      g.data_ptr<float>(), false, r0, r1);
                         });
      } else {
        g.zero_();
      }
      dw = weight_gradient(ctx, *mask, g);
    }
    // Edges exist for tensor arguments only: ask for the bias's only if
    // it was one.
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) {
      db = gt.sum(1);
    }
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor sparse_linear(const at::Tensor& x, const at::Tensor& weight,
                         const at::Tensor& bias,
                         const c10::intrusive_ptr<CompressedMask>& mask,
                         WeightGradientOutput gradient,
                         const at::Tensor& weight_values) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1),
              "sparse_linear: x {batch, in} and weight {out, in} expected");
  TORCH_CHECK(x.scalar_type() == at::kFloat &&
                  weight.scalar_type() == at::kFloat && x.is_cpu() &&
                  weight.is_cpu(),
              "sparse_linear: float32 CPU tensors expected");
  TORCH_CHECK(mask->shape == weight.sizes().vec(),
              "sparse_linear: the mask does not match the weight");
  return SparseLinearFunction::apply(
      x, weight,
      bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt, mask,
      std::move(gradient),
      weight_values.defined() ? c10::optional<at::Tensor>(weight_values)
                              : c10::nullopt);
}

}  // namespace cigl::kernels
