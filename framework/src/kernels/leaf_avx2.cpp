// The AVX2 + FMA build of the sparse kernels' inner loops (see leaf.hpp).
// Only the functions are compiled for AVX2 (target attributes), not the
// file, so nothing here runs unless avx2_leaf() found the CPU able to.
#include "leaf.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define CIGL_AVX2 __attribute__((target("avx2,fma")))

namespace cigl::kernels {

namespace {

// A register tile of NV vectors of 8 outputs: every entry of the row is
// one broadcast and NV fused multiply-adds, the sums stay in registers.
template <int NV>
CIGL_AVX2 inline void spmm_tile(const SparseRows& a, std::int64_t kb,
                                std::int64_t ke, const float* x,
                                std::int64_t ldx, float bias, float* y) {
  __m256 acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = _mm256_set1_ps(bias);
  for (std::int64_t k = kb; k < ke; ++k) {
    const __m256 v = _mm256_broadcast_ss(a.value + k);
    const float* xs = x + a.idx[k] * ldx;
    for (int j = 0; j < NV; ++j) {
      acc[j] = _mm256_fmadd_ps(v, _mm256_loadu_ps(xs + 8 * j), acc[j]);
    }
  }
  for (int j = 0; j < NV; ++j) _mm256_storeu_ps(y + 8 * j, acc[j]);
}

CIGL_AVX2 void spmm_avx2(const SparseRows& a, const float* x, std::int64_t ldx,
                         const float* bias, float* y, std::int64_t ldy,
                         std::int64_t n, std::int64_t r0, std::int64_t r1) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t kb = a.row_begin[r], ke = a.row_begin[r + 1];
    const float b = bias ? bias[r] : 0.0f;
    float* yr = y + r * ldy;
    std::int64_t p = 0;
    for (; p + 64 <= n; p += 64) spmm_tile<8>(a, kb, ke, x + p, ldx, b, yr + p);
    switch ((n - p) / 8) {
      case 7: spmm_tile<7>(a, kb, ke, x + p, ldx, b, yr + p); break;
      case 6: spmm_tile<6>(a, kb, ke, x + p, ldx, b, yr + p); break;
      case 5: spmm_tile<5>(a, kb, ke, x + p, ldx, b, yr + p); break;
      case 4: spmm_tile<4>(a, kb, ke, x + p, ldx, b, yr + p); break;
      case 3: spmm_tile<3>(a, kb, ke, x + p, ldx, b, yr + p); break;
      case 2: spmm_tile<2>(a, kb, ke, x + p, ldx, b, yr + p); break;
      case 1: spmm_tile<1>(a, kb, ke, x + p, ldx, b, yr + p); break;
      default: break;
    }
    p += (n - p) / 8 * 8;
    for (; p < n; ++p) {  // the last n % 8 outputs
      float s = b;
      for (std::int64_t k = kb; k < ke; ++k) {
        s += a.value[k] * x[a.idx[k] * ldx + p];
      }
      yr[p] = s;
    }
  }
}

CIGL_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four entries of one row at once: each vector of the row's g is loaded
// once for four dot products.
CIGL_AVX2 inline void sddmm_four(const float* gr, const float* x0,
                                 const float* x1, const float* x2,
                                 const float* x3, std::int64_t n, float* s) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  std::int64_t p = 0;
  for (; p + 8 <= n; p += 8) {
    const __m256 g = _mm256_loadu_ps(gr + p);
    a0 = _mm256_fmadd_ps(g, _mm256_loadu_ps(x0 + p), a0);
    a1 = _mm256_fmadd_ps(g, _mm256_loadu_ps(x1 + p), a1);
    a2 = _mm256_fmadd_ps(g, _mm256_loadu_ps(x2 + p), a2);
    a3 = _mm256_fmadd_ps(g, _mm256_loadu_ps(x3 + p), a3);
  }
  s[0] = horizontal_sum(a0);
  s[1] = horizontal_sum(a1);
  s[2] = horizontal_sum(a2);
  s[3] = horizontal_sum(a3);
  for (; p < n; ++p) {
    s[0] += gr[p] * x0[p];
    s[1] += gr[p] * x1[p];
    s[2] += gr[p] * x2[p];
    s[3] += gr[p] * x3[p];
  }
}

CIGL_AVX2 inline float sddmm_one(const float* gr, const float* xs,
                                 std::int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  std::int64_t p = 0;
  for (; p + 16 <= n; p += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(gr + p), _mm256_loadu_ps(xs + p), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(gr + p + 8),
                         _mm256_loadu_ps(xs + p + 8), a1);
  }
  for (; p + 8 <= n; p += 8) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(gr + p), _mm256_loadu_ps(xs + p), a0);
  }
  float s = horizontal_sum(_mm256_add_ps(a0, a1));
  for (; p < n; ++p) s += gr[p] * xs[p];
  return s;
}

CIGL_AVX2 void sddmm_avx2(const std::int64_t* row_begin,
                          const std::int32_t* idx, const float* g,
                          std::int64_t ldg, const float* x, std::int64_t ldx,
                          std::int64_t n, float* out, bool accumulate,
                          std::int64_t r0, std::int64_t r1) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* gr = g + r * ldg;
    std::int64_t k = row_begin[r];
    const std::int64_t ke = row_begin[r + 1];
    for (; k + 4 <= ke; k += 4) {
      float s[4];
      sddmm_four(gr, x + idx[k] * ldx, x + idx[k + 1] * ldx,
                 x + idx[k + 2] * ldx, x + idx[k + 3] * ldx, n, s);
      for (int j = 0; j < 4; ++j) {
        out[k + j] = accumulate ? out[k + j] + s[j] : s[j];
      }
    }
    for (; k < ke; ++k) {
      const float s = sddmm_one(gr, x + idx[k] * ldx, n);
      out[k] = accumulate ? out[k] + s : s;
    }
  }
}

// Scalar, with the fused multiply-adds LibTorch's vectorised SGD uses.
CIGL_AVX2 void sgd_avx2(const std::int64_t* row_begin, const std::int32_t* col,
                        std::int64_t cols, const SgdStep& s, float* w,
                        const float* g, const float* gk, float* buf,
                        float* w_out, std::int64_t r0, std::int64_t r1) {
  const float damp = 1 - s.dampening, minus_lr = -s.lr;
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
      const std::int64_t i = r * cols + col[k];
      float d = gk ? gk[k] : g[i];
      if (s.weight_decay != 0) d = __builtin_fmaf(w[i], s.weight_decay, d);
      if (s.momentum != 0) {
        float& slot = buf[s.momentum_by_entry ? k : i];
        const float b =
            s.first ? d : __builtin_fmaf(d, damp, slot * s.momentum);
        slot = b;
        d = s.nesterov ? __builtin_fmaf(b, s.momentum, d) : b;
      }
      w[i] = __builtin_fmaf(d, minus_lr, w[i]);
      if (w_out) w_out[k] = w[i];
    }
  }
}

// Blocks of 8 x 8: eight row loads, the usual unpack / shuffle / permute
// network, eight column stores; the edges element by element.
CIGL_AVX2 void transpose_avx2(const float* in, std::int64_t rows,
                              std::int64_t cols, float* out, std::int64_t r0,
                              std::int64_t r1) {
  std::int64_t i = r0;
  for (; i + 8 <= r1; i += 8) {
    std::int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      __m256 r[8], t[8];
      for (int k = 0; k < 8; ++k) {
        r[k] = _mm256_loadu_ps(in + (i + k) * cols + j);
      }
      for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
      }
      for (int h = 0; h < 8; h += 4) {
        r[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
        r[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
        r[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        r[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
      }
      for (int k = 0; k < 4; ++k) {
        _mm256_storeu_ps(out + (j + k) * rows + i,
                         _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
        _mm256_storeu_ps(out + (j + k + 4) * rows + i,
                         _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
      }
    }
    for (; j < cols; ++j) {
      for (int k = 0; k < 8; ++k)
        out[j * rows + i + k] = in[(i + k) * cols + j];
    }
  }
  for (; i < r1; ++i) {
    for (std::int64_t j = 0; j < cols; ++j)
      out[j * rows + i] = in[i * cols + j];
  }
}

}  // namespace

const Leaf* avx2_leaf() {
  static const Leaf leaf{"avx2", &spmm_avx2, &sddmm_avx2, &sgd_avx2,
                         &transpose_avx2};
  __builtin_cpu_init();
  const bool able =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return able ? &leaf : nullptr;
}

}  // namespace cigl::kernels

#else  // not x86: the portable build only

namespace cigl::kernels {
const Leaf* avx2_leaf() { return nullptr; }
}  // namespace cigl::kernels

#endif
