#pragma once
// Exact top-k within a subset: smallest_among and largest_among of
// cigl/sparse.hpp.
#include <cstdint>

#include <torch/types.h>

namespace cigl {

/// Flat indices (int64, ascending on the CPU) of the k entries of `scores`
/// with the largest (or smallest) values among those where `among` is
/// true; ties are broken by the lower flat index. Throws Error if fewer
/// than k qualify.
torch::Tensor select_among(const torch::Tensor& scores,
                           const torch::Tensor& among, std::int64_t k,
                           bool largest);

}  // namespace cigl
