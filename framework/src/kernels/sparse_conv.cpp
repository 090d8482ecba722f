// Sparse Conv2d (see sparse_ops.hpp), stride 1, computed directly (no
// im2col): each example's input is copied into a zero-padded buffer whose
// planes are flattened, and the output is computed on the padded width
// (Wp columns per row, of which the last kW - 1 are discarded). Kernel
// position (i, j) of input channel c is then one fixed offset
// c * plane + i * Wp + j into that buffer, the same for every output
// position, so every active weight scales one contiguous run of the buffer:
// the leaf loops of the Linear kernels with the offset as the index. The
// input gradient is the same loop over the weight by input channel on the
// output gradient (padded in front by the largest offset, the transposed
// correlation), the weight gradient an SDDMM over positions, summed over
// the examples of a fixed number of chunks and then over the chunks in
// order, so the result does not depend on the number of threads.
#include <cstring>
#include <limits>
#include <vector>

#include <torch/csrc/autograd/custom_function.h>

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include "cigl/core/sparse_ops.hpp"
#include "leaf.hpp"
#include "weight_gradient.hpp"

namespace cigl::kernels {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr std::int64_t round8(std::int64_t n) { return (n + 7) / 8 * 8; }

/// Sizes of the buffers of one example.
struct Geometry {
  Geometry(const at::Tensor& x, const std::vector<std::int64_t>& w,
           std::array<std::int64_t, 2> padding)
      : batch(x.size(0)),
        in(x.size(1)),
        height(x.size(2)),
        width(x.size(3)),
        out(w[0]),
        kh(w[2]),
        kw(w[3]),
        ph(padding[0]),
        pw(padding[1]) {
    hp = height + 2 * ph;
    wp = width + 2 * pw;
    oh = hp - kh + 1;
    ow = wp - kw + 1;
    TORCH_CHECK(oh >= 1 && ow >= 1,
                "sparse_conv2d: the kernel is larger than the padded input");
    pv = round8(oh * wp);
    dmax = (kh - 1) * wp + (kw - 1);
    plane = round8(std::max(hp * wp, pv + dmax));
    qv = round8(hp * wp);
    grad_row = round8(dmax + qv);
    TORCH_CHECK(in * plane < std::numeric_limits<std::int32_t>::max() &&
                    out * grad_row < std::numeric_limits<std::int32_t>::max(),
                "sparse_conv2d: the layer is too large for 32-bit offsets");
  }
  std::int64_t batch, in, height, width, out, kh, kw, ph, pw;
  std::int64_t hp, wp, oh, ow;
  std::int64_t pv;        ///< output positions computed per channel (padded)
  std::int64_t dmax;      ///< largest kernel offset
  std::int64_t plane;     ///< padded input plane, with room for overreads
  std::int64_t qv;        ///< padded input positions, rounded up
  std::int64_t grad_row;  ///< output-gradient row: dmax zeros, then qv

  /// Example b's input planes into the padded buffer (its border stays 0).
  void pad_input(const float* x, std::int64_t b, float* xp) const {
    for (std::int64_t c = 0; c < in; ++c) {
      const float* src = x + (b * in + c) * height * width;
      float* dst = xp + c * plane + ph * wp + pw;
      for (std::int64_t h = 0; h < height; ++h) {
        std::memcpy(dst + h * wp, src + h * width, sizeof(float) * width);
      }
    }
  }
};

/// Forward offsets: entry k of the weight at (c, i, j) reads xp at
/// c * plane + i * wp + j.
std::vector<std::int32_t> input_offsets(const CompressedMask& m,
                                        const Geometry& g) {
  std::vector<std::int32_t> off(static_cast<std::size_t>(m.nnz()));
  const std::int64_t kk = g.kh * g.kw;
  for (std::int64_t k = 0; k < m.nnz(); ++k) {
    const std::int64_t col = m.col[k];
    const std::int64_t c = col / kk, i = col % kk / g.kw, j = col % g.kw;
    off[k] = static_cast<std::int32_t>(c * g.plane + i * g.wp + j);
  }
  return off;
}

/// Number of example chunks: fixed, not per thread, so that the weight
/// gradient sums in the same order whatever the thread count.
std::int64_t chunks(std::int64_t batch) {
  return std::min<std::int64_t>(batch, 16);
}

struct SparseConvFunction : torch::autograd::Function<SparseConvFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in,
                            const at::Tensor& weight,
                            const c10::optional<at::Tensor>& bias_in,
                            const c10::intrusive_ptr<CompressedMask>& mask,
                            std::array<std::int64_t, 2> padding,
                            const WeightGradientOutput& gradient,
                            const c10::optional<at::Tensor>& known_values) {
    const at::Tensor x = x_in.contiguous();
    const Geometry g(x, mask->shape, padding);
    const at::Tensor w = weight.contiguous();
    at::Tensor values = known_values.value_or(at::Tensor());
    if (!values.defined()) {
      values = at::empty({mask->nnz()}, w.options());
      mask->gather(w.data_ptr<float>(), values.data_ptr<float>());
    }
    const auto off = input_offsets(*mask, g);
    const SparseRows rows{mask->row_begin.data(), off.data(),
                          values.data_ptr<float>()};
    const at::Tensor bias = bias_in.value_or(at::Tensor());
    const at::Tensor b = bias.defined() ? bias.contiguous() : bias;
    at::Tensor y = at::empty({g.batch, g.out, g.oh, g.ow}, x.options());
    const Leaf& leaf = kernels::leaf();
    const std::int64_t n_chunks = chunks(g.batch);
    const float* xd = x.data_ptr<float>();
    float* yd = y.data_ptr<float>();
    at::parallel_for(0, n_chunks, 1, [&](std::int64_t q0, std::int64_t q1) {
      std::vector<float> xp(static_cast<std::size_t>(g.in * g.plane), 0.0f);
      std::vector<float> yp(static_cast<std::size_t>(g.out * g.pv));
      for (std::int64_t q = q0; q < q1; ++q) {
        for (std::int64_t e = q * g.batch / n_chunks;
             e < (q + 1) * g.batch / n_chunks; ++e) {
          g.pad_input(xd, e, xp.data());
          leaf.spmm(rows, xp.data(), 1,
                    b.defined() ? b.data_ptr<float>() : nullptr, yp.data(),
                    g.pv, g.pv, 0, g.out);
          for (std::int64_t o = 0; o < g.out; ++o) {
            float* dst = yd + (e * g.out + o) * g.oh * g.ow;
            for (std::int64_t r = 0; r < g.oh; ++r) {
              std::memcpy(dst + r * g.ow, yp.data() + o * g.pv + r * g.wp,
                          sizeof(float) * g.ow);
            }
          }
        }
      }
    });
    ctx->saved_data["x"] = x;
    ctx->saved_data["values"] = values;
    ctx->saved_data["mask"] = c10::IValue::make_capsule(mask);
    save_weight_gradient_output(ctx, gradient);
    ctx->saved_data["padding"] =
        std::vector<std::int64_t>{padding[0], padding[1]};
    ctx->saved_data["has_bias"] = bias.defined();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->saved_data["x"].toTensor();
    const at::Tensor values = ctx->saved_data["values"].toTensor();
    const auto mask = c10::static_intrusive_pointer_cast<CompressedMask>(
        ctx->saved_data["mask"].toCapsule());
    const auto pad = ctx->saved_data["padding"].toIntVector();
    const Geometry g(x, mask->shape, {pad[0], pad[1]});
    const at::Tensor dy = grads[0].contiguous();
    const bool want_dx = ctx->needs_input_grad(0);
    const bool want_dw = ctx->needs_input_grad(1);
    const std::int64_t nnz = mask->nnz();
    const Leaf& leaf = kernels::leaf();

    // Forward offsets for the weight gradient.
    const auto off = input_offsets(*mask, g);
    // Input-gradient entries, by input channel: the weight at (o, c, i, j)
    // reads the padded output gradient at o * grad_row + dmax - i*wp - j.
    const std::int64_t kk = g.kh * g.kw;
    std::vector<std::int64_t> channel_begin(static_cast<std::size_t>(g.in) + 1);
    std::vector<std::int32_t> back_off(static_cast<std::size_t>(nnz));
    at::Tensor by_column;
    if (want_dx) {
      for (std::int64_t c = 0; c <= g.in; ++c) {
        channel_begin[c] = mask->column_begin[c * kk];
      }
      for (std::int64_t col = 0; col < mask->cols; ++col) {
        const std::int64_t i = col % kk / g.kw, j = col % g.kw;
        for (std::int64_t e = mask->column_begin[col];
             e < mask->column_begin[col + 1]; ++e) {
          back_off[e] = static_cast<std::int32_t>(
              mask->column_row[e] * g.grad_row + g.dmax - i * g.wp - j);
        }
      }
      by_column = at::empty_like(values);
      mask->to_column_order(values.data_ptr<float>(),
                            by_column.data_ptr<float>());
    }
    const SparseRows channels{channel_begin.data(), back_off.data(),
                              want_dx ? by_column.data_ptr<float>() : nullptr};

    const std::int64_t n_chunks = chunks(g.batch);
    std::vector<float> partial(
        want_dw ? static_cast<std::size_t>(n_chunks * nnz) : 0, 0.0f);
    at::Tensor dx;
    if (want_dx) dx = at::empty_like(x);
    const float* xd = x.data_ptr<float>();
    const float* dyd = dy.data_ptr<float>();
    at::parallel_for(0, n_chunks, 1, [&](std::int64_t q0, std::int64_t q1) {
      std::vector<float> xp(
          want_dw ? static_cast<std::size_t>(g.in * g.plane) : 0, 0.0f);
      std::vector<float> gp(static_cast<std::size_t>(g.out * g.grad_row), 0.0f);
      std::vector<float> dxp(want_dx ? static_cast<std::size_t>(g.in * g.qv)
                                     : 0);
      for (std::int64_t q = q0; q < q1; ++q) {
        for (std::int64_t e = q * g.batch / n_chunks;
             e < (q + 1) * g.batch / n_chunks; ++e) {
          for (std::int64_t o = 0; o < g.out; ++o) {
            const float* src = dyd + (e * g.out + o) * g.oh * g.ow;
            float* dst = gp.data() + o * g.grad_row + g.dmax;
            for (std::int64_t r = 0; r < g.oh; ++r) {
              std::memcpy(dst + r * g.wp, src + r * g.ow, sizeof(float) * g.ow);
            }
          }
          if (want_dw) {
            g.pad_input(xd, e, xp.data());
            leaf.sddmm(mask->row_begin.data(), off.data(), gp.data() + g.dmax,
                       g.grad_row, xp.data(), 1, g.pv, partial.data() + q * nnz,
                       true, 0, g.out);
          }
          if (want_dx) {
            leaf.spmm(channels, gp.data(), 1, nullptr, dxp.data(), g.qv, g.qv,
                      0, g.in);
            float* dst = dx.data_ptr<float>() + e * g.in * g.height * g.width;
            for (std::int64_t c = 0; c < g.in; ++c) {
              for (std::int64_t h = 0; h < g.height; ++h) {
                std::memcpy(dst + (c * g.height + h) * g.width,
                            dxp.data() + c * g.qv + (h + g.ph) * g.wp + g.pw,
                            sizeof(float) * g.width);
              }
            }
          }
        }
      }
    });
    at::Tensor dw, db;
    if (want_dw) {
      at::Tensor sum = at::empty({nnz}, values.options());
      float* s = sum.data_ptr<float>();
      for (std::int64_t k = 0; k < nnz; ++k) s[k] = 0;
      for (std::int64_t q = 0; q < n_chunks; ++q) {
        const float* p = partial.data() + q * nnz;
        for (std::int64_t k = 0; k < nnz; ++k) s[k] += p[k];
      }
      dw = weight_gradient(ctx, *mask, sum);
    }
    // Edges exist for tensor arguments only: ask for the bias's only if
    // it was one.
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) {
      db = dy.sum({0, 2, 3});
    }
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor sparse_conv2d(const at::Tensor& x, const at::Tensor& weight,
                         const at::Tensor& bias,
                         const c10::intrusive_ptr<CompressedMask>& mask,
                         std::array<std::int64_t, 2> padding,
                         WeightGradientOutput gradient,
                         const at::Tensor& weight_values) {
  TORCH_CHECK(x.dim() == 4 && weight.dim() == 4 && x.size(1) == weight.size(1),
              "sparse_conv2d: x {batch, in, H, W} and weight {out, in, kH, "
              "kW} expected");
  TORCH_CHECK(x.scalar_type() == at::kFloat &&
                  weight.scalar_type() == at::kFloat && x.is_cpu() &&
                  weight.is_cpu(),
              "sparse_conv2d: float32 CPU tensors expected");
  TORCH_CHECK(mask->shape == weight.sizes().vec(),
              "sparse_conv2d: the mask does not match the weight");
  return SparseConvFunction::apply(
      x, weight,
      bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt, mask,
      padding, std::move(gradient),
      weight_values.defined() ? c10::optional<at::Tensor>(weight_values)
                              : c10::nullopt);
}

}  // namespace cigl::kernels
