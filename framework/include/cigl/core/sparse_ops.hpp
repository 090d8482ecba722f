#pragma once
// The sparse kernels as LibTorch autograd functions (the trainer reaches
// them through cigl/core/kernel_routing.hpp; tests and benchmarks call
// them directly). Sparse Linear and Conv2d read the weight's values at the
// mask's active entries (a gather of nnz values per call, so whatever a
// method did to the dense weight before the forward pass counts); the
// forward pass and the input gradient multiply by the compressed weight,
// and the weight gradient is computed at the active entries only (an
// SDDMM) and handed to autograd as a fresh dense tensor, zero elsewhere,
// which autograd takes as the weight's .grad without a copy where that is
// unset. The result is the dense layer's with the weight multiplied by its
// mask, up to the order of float summation. Float32 on the CPU; AVX2 + FMA
// where the CPU has it, else a portable build; threads from LibTorch's pool.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include "cigl/export.hpp"

namespace cigl::kernels {

/// A mask's active entries in the compressed forms the kernels walk:
/// rows are the weight's first dimension (output features or channels),
/// columns everything after it flattened (input features, or input channel
/// and kernel position). Built once per mask, i.e. after each topology
/// change, never per step.
struct CIGL_API CompressedMask : torch::CustomClassHolder {
  /// From a bool mask of shape {rows, ...} (any device; read on the CPU).
  explicit CompressedMask(const at::Tensor& mask);

  std::int64_t rows = 0, cols = 0;
  std::vector<std::int64_t> shape;  ///< the mask's (and weight's) shape

  /// By row: entries of row r are row_begin[r] .. row_begin[r + 1] - 1, in
  /// increasing column; col[k] is entry k's column. "Entry order" below.
  std::vector<std::int64_t> row_begin;
  std::vector<std::int32_t> col;

  /// By column: entries of column c are column_begin[c] ..
  /// column_begin[c + 1] - 1, in increasing row; column_row[j] is the row
  /// of the j-th of them and column_entry[j] its index in entry order.
  std::vector<std::int64_t> column_begin;
  std::vector<std::int32_t> column_row;
  std::vector<std::int64_t> column_entry;

  std::int64_t nnz() const { return static_cast<std::int64_t>(col.size()); }

  /// values[k] = weight[entry k] for a contiguous float weight.
  void gather(const float* weight, float* values) const;
  /// by_column[j] = values[column_entry[j]].
  void to_column_order(const float* values, float* by_column) const;
  /// `values` (entry order) written at the entries of `dense`, a
  /// contiguous float tensor of the mask's shape; a new one, zero
  /// elsewhere, where `dense` is undefined.
  at::Tensor to_dense(const at::Tensor& values,
                      at::Tensor dense = at::Tensor()) const;
  /// Zeroes the entries of `dense` (contiguous float, the mask's shape).
  void clear_entries(float* dense) const;
};

/// Called by a backward pass with the weight gradient it hands to
/// autograd (fresh, dense, zero at inactive entries) and its values at the
/// entries (entry order). It must not keep `gradient` itself: a second
/// reference makes autograd copy it instead of taking it.
using WeightGradientHook =
    std::function<void(const at::Tensor& gradient, const at::Tensor& values)>;

/// Where a backward pass puts the weight gradient, and whom it tells.
struct WeightGradientOutput {
  /// A contiguous float32 tensor of the weight's shape, zero everywhere,
  /// to write the gradient into (a recycled one spares allocating and
  /// faulting in fresh pages every step); undefined: a new one. Only the
  /// backward pass may hold it.
  at::Tensor buffer;
  WeightGradientHook hook;
};

/// Both take `weight_values`, the weight at the entries (entry order), where
/// the caller knows them already; else they gather them from `weight`.
///
/// x {batch, in} times the weight {out, in} at `mask`'s entries, plus
/// bias (may be undefined). Float32 on the CPU. The output has the strides
/// of a transposed {out, batch} matrix (batch innermost), the layout the
/// kernels read and write; a following sparse layer takes it without a
/// copy, and other operations treat it as any strided tensor.
CIGL_API at::Tensor sparse_linear(
    const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
    const c10::intrusive_ptr<CompressedMask>& mask,
    WeightGradientOutput gradient = {},
    const at::Tensor& weight_values = at::Tensor());

/// conv2d with stride 1, dilation 1, one group and zero padding
/// {height, width}: x {batch, in, H, W}, weight {out, in, kH, kW} at
/// `mask`'s entries, plus bias (may be undefined). Float32 on the CPU.
CIGL_API at::Tensor sparse_conv2d(
    const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
    const c10::intrusive_ptr<CompressedMask>& mask,
    std::array<std::int64_t, 2> padding, WeightGradientOutput gradient = {},
    const at::Tensor& weight_values = at::Tensor());

/// LibTorch's SGD step (same options, same order of operations) on the
/// entries of `mask` only; the other entries of weight and momentum stay
/// as they are, which is what SGD does to them wherever their gradient,
/// weight and momentum are zero. `momentum_buffer` is used where
/// momentum != 0: contiguous, either the weight's shape or compact (one
/// value per entry, in entry order); `first` is SGD's first step, which
/// sets the buffer to the update instead of decaying it.
/// The gradient is read from `grad_values` (entry order) where given,
/// else from the dense `grad`; the new weight at the entries is written to
/// `weight_values` (entry order) where given. Bumps the version counters of
/// what it writes, as LibTorch's in-place operations do.
struct SgdOptions {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
CIGL_API void masked_sgd_step(const CompressedMask& mask,
                              const at::Tensor& weight, const at::Tensor& grad,
                              const at::Tensor& grad_values,
                              const at::Tensor& momentum_buffer, bool first,
                              const SgdOptions& options,
                              const at::Tensor& weight_values = at::Tensor());

/// The build of the inner loops the kernels use: "avx2" or "portable".
CIGL_API const char* instruction_set();
/// Switches the build ("avx2" or "portable"); false, changing nothing,
/// where this CPU cannot run it. The default is AVX2 where available,
/// unless the environment has CIGL_KERNELS_ISA=portable.
CIGL_API bool use_instruction_set(const std::string& isa);

}  // namespace cigl::kernels
