#pragma once
// The inner loops of the sparse kernels on raw float pointers, built twice:
// portable C++ and AVX2 + FMA (x86 only). leaf() picks the AVX2 build when
// the CPU has it. These files include no LibTorch headers: the AVX2 build
// must not instantiate inline code that other files could end up calling
// on a CPU without AVX2.
//
// Both loops walk a sparse matrix stored as rows of (index, value) entries:
// row r holds the entries row_begin[r] .. row_begin[r + 1] - 1, and entry k
// refers to the dense operand at x + idx[k] * ldx. The same two loops serve
// Linear layers (idx is an input feature, ldx the batch) and convolutions
// (idx is an offset into a padded image, ldx 1); see sparse_linear.cpp and
// sparse_conv.cpp.
#include <cstdint>

namespace cigl::kernels {

struct SparseRows {
  const std::int64_t* row_begin;  ///< rows + 1 entries
  const std::int32_t* idx;        ///< per entry: operand index
  const float* value;             ///< per entry
};

/// y[r * ldy + p] = bias[r] + sum_k value[k] * x[idx[k] * ldx + p] for rows
/// r0 <= r < r1 and 0 <= p < n (bias may be null: 0).
using SpmmFn = void (*)(const SparseRows& a, const float* x, std::int64_t ldx,
                        const float* bias, float* y, std::int64_t ldy,
                        std::int64_t n, std::int64_t r0, std::int64_t r1);

/// out[k] = sum_p g[r * ldg + p] * x[idx[k] * ldx + p] for every entry k of
/// rows r0 <= r < r1 and 0 <= p < n (an SDDMM: a dense product sampled at
/// the sparse entries); with `accumulate`, out[k] += instead of =.
using SddmmFn = void (*)(const std::int64_t* row_begin, const std::int32_t* idx,
                         const float* g, std::int64_t ldg, const float* x,
                         std::int64_t ldx, std::int64_t n, float* out,
                         bool accumulate, std::int64_t r0, std::int64_t r1);

/// LibTorch's SGD update, in its order of operations, for the entries of
/// rows r0 <= r < r1 of a matrix with `cols` columns, entry k at
/// r * cols + col[k], its gradient g at the same place, or gk[k] where gk
/// is given, its momentum buf at the same place, or buf[k] with
/// `momentum_by_entry`; the new w is also written to w_out[k] where w_out
/// is given:
///   d = g + weight_decay * w
///   buf = first ? d : momentum * buf + (1 - dampening) * d
///   d = nesterov ? d + momentum * buf : buf     (with momentum != 0)
///   w = w - lr * d
struct SgdStep {
  float lr, momentum, dampening, weight_decay;
  bool nesterov, first;
  bool momentum_by_entry = false;
};
using SgdFn = void (*)(const std::int64_t* row_begin, const std::int32_t* col,
                       std::int64_t cols, const SgdStep& step, float* w,
                       const float* g, const float* gk, float* buf,
                       float* w_out, std::int64_t r0, std::int64_t r1);

/// out[c * rows + r] = in[r * cols + c] for rows r0 <= r < r1: a band of
/// the transpose of a row-major {rows, cols} matrix into a row-major
/// {cols, rows} one (a batch into the feature-major layout).
using TransposeFn = void (*)(const float* in, std::int64_t rows,
                             std::int64_t cols, float* out, std::int64_t r0,
                             std::int64_t r1);

struct Leaf {
  const char* isa;  ///< "avx2" or "portable"
  SpmmFn spmm;
  SddmmFn sddmm;
  SgdFn sgd;
  TransposeFn transpose;
};

/// The portable build: plain loops the compiler vectorises for the
/// baseline instruction set.
const Leaf& portable_leaf();
/// The AVX2 + FMA build, or nullptr where the CPU (or the compiler's
/// target) lacks it.
const Leaf* avx2_leaf();
/// The one the kernels use (cigl::kernels::use_instruction_set).
const Leaf& leaf();

}  // namespace cigl::kernels
