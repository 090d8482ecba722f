#pragma once
// Batch-wise image augmentation for Dataset::augment(): every operation
// works on a whole {N, C, H, W} batch on the device it lives on, with one
// set of tensor ops per batch and no per-example loop or allocation.
// Random draws come from the generator passed in, on its device: the
// trainer passes a CPU generator on the CPU and a CUDA one on a GPU, so a
// GPU step draws and augments without host work.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "cigl/export.hpp"
#include "cigl/params.hpp"

namespace cigl {

/// Pads `batch` by `padding` on every side with `fill` (one value per
/// channel; empty: 0) and takes example n's H x W window whose top-left
/// corner is (offsets_y[n], offsets_x[n]) in the padded image; offsets are
/// int64 {N} in [0, 2 * padding], on any device. Offsets (p, p) give the
/// example back unchanged.
CIGL_API torch::Tensor crop_at(const torch::Tensor& batch, std::int64_t padding,
                               const torch::Tensor& offsets_y,
                               const torch::Tensor& offsets_x,
                               const std::vector<double>& fill = {});

/// crop_at() at offsets drawn uniformly from [0, 2 * padding], y then x,
/// from `generator` (on its device).
CIGL_API torch::Tensor random_crop(const torch::Tensor& batch,
                                   std::int64_t padding,
                                   torch::Generator& generator,
                                   const std::vector<double>& fill = {});

/// Mirrors left-right the examples whose `mask` entry (bool {N}) is true.
CIGL_API torch::Tensor flip_where(const torch::Tensor& batch,
                                  const torch::Tensor& mask);

/// Mirrors each example left-right with probability `p`.
CIGL_API torch::Tensor random_horizontal_flip(const torch::Tensor& batch,
                                              torch::Generator& generator,
                                              double p = 0.5);

/// The standard CIFAR training augmentation: a random crop of the padded
/// image, then a random horizontal flip (p = 0.5).
struct CIGL_API Augmentation {
  std::int64_t crop_padding = 0;  ///< 0: no crop
  bool horizontal_flip = false;
  std::vector<double> fill;  ///< per-channel value of the padded border

  /// Reads the `crop_padding` and `horizontal_flip` params.
  static Augmentation from_params(const Params& params,
                                  std::vector<double> fill = {});

  bool active() const { return crop_padding > 0 || horizontal_flip; }
  /// Returns `batch` itself when nothing is enabled.
  torch::Tensor apply(const torch::Tensor& batch,
                      torch::Generator& generator) const;
};

/// The `crop_padding` (integer >= 0) and `horizontal_flip` (boolean)
/// declarations, with the given defaults, that every image dataset shares.
CIGL_API std::vector<ParamSpec> augmentation_params(std::int64_t crop_padding,
                                                    bool horizontal_flip);

}  // namespace cigl
