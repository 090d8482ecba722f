// The portable build of the sparse kernels' inner loops (see leaf.hpp):
// the same tiling as the AVX2 build, written as plain loops over short
// fixed-length arrays that the compiler vectorises for the baseline ISA.
#include <algorithm>
#include <cstring>

#include "leaf.hpp"

namespace cigl::kernels {

namespace {

constexpr std::int64_t kTile = 64;  // outputs per register tile

void spmm_portable(const SparseRows& a, const float* x, std::int64_t ldx,
                   const float* bias, float* y, std::int64_t ldy,
                   std::int64_t n, std::int64_t r0, std::int64_t r1) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t kb = a.row_begin[r], ke = a.row_begin[r + 1];
    const float b = bias ? bias[r] : 0.0f;
    float* yr = y + r * ldy;
    std::int64_t p = 0;
    for (; p + kTile <= n; p += kTile) {
      float acc[kTile];
      for (std::int64_t j = 0; j < kTile; ++j) acc[j] = b;
      for (std::int64_t k = kb; k < ke; ++k) {
        const float v = a.value[k];
        const float* xs = x + a.idx[k] * ldx + p;
        for (std::int64_t j = 0; j < kTile; ++j) acc[j] += v * xs[j];
      }
      std::memcpy(yr + p, acc, sizeof acc);
    }
    const std::int64_t rest = n - p;
    if (rest == 0) continue;
    float acc[kTile];
    for (std::int64_t j = 0; j < rest; ++j) acc[j] = b;
    for (std::int64_t k = kb; k < ke; ++k) {
      const float v = a.value[k];
      const float* xs = x + a.idx[k] * ldx + p;
      for (std::int64_t j = 0; j < rest; ++j) acc[j] += v * xs[j];
    }
    std::memcpy(yr + p, acc, static_cast<std::size_t>(rest) * sizeof(float));
  }
}

void sddmm_portable(const std::int64_t* row_begin, const std::int32_t* idx,
                    const float* g, std::int64_t ldg, const float* x,
                    std::int64_t ldx, std::int64_t n, float* out,
                    bool accumulate, std::int64_t r0, std::int64_t r1) {
  constexpr std::int64_t kLanes = 8;
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* gr = g + r * ldg;
    for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
      const float* xs = x + idx[k] * ldx;
      float lanes[kLanes] = {};
      std::int64_t p = 0;
      for (; p + kLanes <= n; p += kLanes) {
        for (std::int64_t j = 0; j < kLanes; ++j)
          lanes[j] += gr[p + j] * xs[p + j];
      }
      float s = 0;
      for (; p < n; ++p) s += gr[p] * xs[p];
      for (std::int64_t j = 0; j < kLanes; ++j) s += lanes[j];
      out[k] = accumulate ? out[k] + s : s;
    }
  }
}

void sgd_portable(const std::int64_t* row_begin, const std::int32_t* col,
                  std::int64_t cols, const SgdStep& s, float* w, const float* g,
                  const float* gk, float* buf, float* w_out, std::int64_t r0,
                  std::int64_t r1) {
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
      const std::int64_t i = r * cols + col[k];
      float d = gk ? gk[k] : g[i];
      if (s.weight_decay != 0) d = d + s.weight_decay * w[i];
      if (s.momentum != 0) {
        float& slot = buf[s.momentum_by_entry ? k : i];
        const float b = s.first ? d : slot * s.momentum + (1 - s.dampening) * d;
        slot = b;
        d = s.nesterov ? d + s.momentum * b : b;
      }
      w[i] = w[i] + -s.lr * d;
      if (w_out) w_out[k] = w[i];
    }
  }
}

// Square tiles, so reads and writes both stay within a few cache lines.
void transpose_portable(const float* in, std::int64_t rows, std::int64_t cols,
                        float* out, std::int64_t r0, std::int64_t r1) {
  constexpr std::int64_t kTile = 16;
  for (std::int64_t i0 = r0; i0 < r1; i0 += kTile) {
    const std::int64_t i1 = std::min(r1, i0 + kTile);
    for (std::int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const std::int64_t j1 = std::min(cols, j0 + kTile);
      for (std::int64_t j = j0; j < j1; ++j) {
        for (std::int64_t i = i0; i < i1; ++i) {
          out[j * rows + i] = in[i * cols + j];
        }
      }
    }
  }
}

}  // namespace

const Leaf& portable_leaf() {
  static const Leaf leaf{"portable", &spmm_portable, &sddmm_portable,
                         &sgd_portable, &transpose_portable};
  return leaf;
}

}  // namespace cigl::kernels
