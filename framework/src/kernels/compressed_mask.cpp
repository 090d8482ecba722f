#include "cigl/core/sparse_ops.hpp"

#include <limits>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <ATen/ops/zeros.h>

namespace cigl::kernels {

CompressedMask::CompressedMask(const at::Tensor& mask_in) {
  const at::Tensor mask = mask_in.to(at::kCPU, at::kBool).contiguous();
  shape = mask.sizes().vec();
  rows = mask.dim() == 0 ? 1 : mask.size(0);
  cols = rows == 0 ? 0 : mask.numel() / rows;
  if (cols > std::numeric_limits<std::int32_t>::max()) {
    throw std::length_error("sparse kernels: a weight row is too long");
  }
  const bool* m = mask.data_ptr<bool>();
  row_begin.assign(static_cast<std::size_t>(rows) + 1, 0);
  column_begin.assign(static_cast<std::size_t>(cols) + 1, 0);
  for (std::int64_t r = 0; r < rows; ++r) {
    const bool* mr = m + r * cols;
    for (std::int64_t c = 0; c < cols; ++c) {
      if (!mr[c]) continue;
      col.push_back(static_cast<std::int32_t>(c));
      ++column_begin[static_cast<std::size_t>(c) + 1];
    }
    row_begin[static_cast<std::size_t>(r) + 1] =
        static_cast<std::int64_t>(col.size());
  }
  // Counting sort by column; rows come out increasing within a column.
  for (std::int64_t c = 0; c < cols; ++c) {
    column_begin[c + 1] += column_begin[c];
  }
  const auto n = static_cast<std::size_t>(nnz());
  column_row.resize(n);
  column_entry.resize(n);
  std::vector<std::int64_t> next(column_begin.begin(), column_begin.end() - 1);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
      const auto j = next[static_cast<std::size_t>(col[k])]++;
      column_row[j] = static_cast<std::int32_t>(r);
      column_entry[j] = k;
    }
  }
}

void CompressedMask::gather(const float* weight, float* values) const {
  at::parallel_for(0, rows, 256, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* wr = weight + r * cols;
      for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
        values[k] = wr[col[k]];
      }
    }
  });
}

void CompressedMask::to_column_order(const float* values,
                                     float* by_column) const {
  const std::int64_t n = nnz();
  at::parallel_for(0, n, 16384, [&](std::int64_t j0, std::int64_t j1) {
    for (std::int64_t j = j0; j < j1; ++j)
      by_column[j] = values[column_entry[j]];
  });
}

at::Tensor CompressedMask::to_dense(const at::Tensor& values,
                                    at::Tensor dense) const {
  at::Tensor out =
      dense.defined() ? std::move(dense) : at::zeros(shape, values.options());
  float* o = out.data_ptr<float>();
  const float* v = values.data_ptr<float>();
  at::parallel_for(0, rows, 256, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      float* orow = o + r * cols;
      for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
        orow[col[k]] = v[k];
      }
    }
  });
  return out;
}

void CompressedMask::clear_entries(float* dense) const {
  at::parallel_for(0, rows, 256, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      float* drow = dense + r * cols;
      for (std::int64_t k = row_begin[r]; k < row_begin[r + 1]; ++k) {
        drow[col[k]] = 0;
      }
    }
  });
}

}  // namespace cigl::kernels
