#pragma once
// The ranks of a data-parallel run as a plugin sees them
// (TrainContext::collectives). Every rank holds the same model and masks
// and takes the same decisions; the trainer averages the gradients of
// every step before any method hook sees them, so most methods need
// nothing from here. A method whose decision rests on data that only one
// rank holds (a pass over the training batches, say) splits the work with
// owns() and combines it with all_reduce(). In a single process there is
// one rank and every operation leaves its input as it is.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

enum class ReduceOp { sum, max, min };

class CIGL_API Collectives {
 public:
  virtual ~Collectives();

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  /// Reduces each tensor element-wise over all ranks, in place: every rank
  /// ends with the same values, bit for bit. Every rank must call it with
  /// tensors of the same shapes and types, in the same order. Throws Error
  /// when a rank has died or the collective times out.
  virtual void all_reduce(std::vector<torch::Tensor>& tensors,
                          ReduceOp op = ReduceOp::sum) = 0;
  /// Overwrites each tensor with rank `root`'s, in place.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root = 0) = 0;

  /// Whether item `index` of a sequence every rank walks in the same order
  /// is this rank's share: every world_size()-th item, from rank().
  bool owns(std::int64_t index) const { return index % world_size() == rank(); }

  /// The one rank of a single process: no communication at all.
  static Collectives& single_process();
};

}  // namespace cigl
