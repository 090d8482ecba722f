#pragma once
// What the trainer does differently when it is one of several ranks:
// gradients averaged over the ranks after every backward pass (bucketed,
// overlapped with the pass), masks checked to agree, BatchNorm running
// statistics averaged, and evaluation rows gathered.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "cigl/core/distributed.hpp"

namespace cigl {

class MaskSet;

/// Averages the gradients of every step over the ranks, as PyTorch's
/// DistributedDataParallel does: the parameters are grouped into buckets
/// of about `bucket_mb` megabytes in reverse order (the order the
/// backward pass produces their gradients), and with `overlap` each
/// bucket's all-reduce starts from a gradient hook as soon as its last
/// gradient is computed, while the backward pass goes on. Buckets are
/// started in the same order on every rank, so collectives always match.
class CIGL_API GradientSync {
 public:
  GradientSync(const std::vector<torch::Tensor>& parameters,
               Communicator& ranks, double bucket_mb, bool overlap);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  /// Before the backward pass of a step.
  void begin();
  /// After it: waits for every bucket and leaves in each parameter's
  /// .grad the average of that gradient over the ranks. A parameter
  /// without a gradient on a rank counts as a zero gradient there.
  void finish();

  std::size_t bucket_count() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into parameters_
    std::vector<std::int64_t> offsets;
    torch::Tensor flat;
    std::size_t filled = 0;
    std::unique_ptr<PendingCollective> pending;
  };
  void on_gradient(std::size_t parameter, const torch::Tensor& grad);
  void launch_filled();
  void fill_from_grads(Bucket& bucket);

  std::vector<torch::Tensor> parameters_;
  std::vector<std::size_t> bucket_of_;
  std::vector<std::int64_t> offset_of_;
  std::vector<bool> seen_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  Communicator& ranks_;
  bool overlap_;
  bool armed_ = false;
  std::size_t next_launch_ = 0;
};

/// A checksum of a mask's bytes (FNV-1a, 62 bits).
CIGL_API std::int64_t mask_checksum(const torch::Tensor& mask);

/// Compares every layer's mask checksum over the ranks (one all-reduce);
/// throws Error naming the first layer whose masks differ, and `when`.
CIGL_API void check_masks_agree(const MaskSet& masks, Collectives& ranks,
                                const std::string& when);

/// Averages the BatchNorm running means and variances of `model` over the
/// ranks, so that every rank evaluates and saves the same model. The
/// running average is linear in the batch statistics, so averaging now
/// or at the end gives the same result.
CIGL_API void average_running_stats(torch::nn::Module& model,
                                    Collectives& ranks);

/// Rows [0, n) of an evaluation, from every rank in order; this rank
/// computed `local`, the rows of its evaluation_share() ({rows, columns},
/// or empty).
CIGL_API torch::Tensor gather_rows(const torch::Tensor& local, std::int64_t n,
                                   std::int64_t columns, Communicator& ranks);

}  // namespace cigl
