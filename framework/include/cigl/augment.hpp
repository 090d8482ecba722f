#pragma once
// Batch-wise image augmentation for Dataset::augment(): every operation
// works on a whole {N, C, H, W} batch on the device it lives on, with one
// set of tensor ops per batch and no per-example loop or allocation.
// Random draws come from the generator passed in, on its device: the
// trainer passes a CPU generator on the CPU and a CUDA one on a GPU, so a
// GPU step draws and augments without host work.
#include <array>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "cigl/export.hpp"
#include "cigl/params.hpp"

namespace cigl {

/// Pads `batch` by `padding` on every side with `fill` (one value per
/// channel; empty: 0), or with `reflect` by mirroring the image without
/// repeating its edge (torchvision's padding_mode="reflect"; padding
/// below the image size), and takes example n's H x W window whose
/// top-left corner is (offsets_y[n], offsets_x[n]) in the padded image;
/// offsets are int64 {N} in [0, 2 * padding], on any device. Offsets
/// (p, p) give the example back unchanged.
CIGL_API torch::Tensor crop_at(const torch::Tensor& batch, std::int64_t padding,
                               const torch::Tensor& offsets_y,
                               const torch::Tensor& offsets_x,
                               const std::vector<double>& fill = {},
                               bool reflect = false);

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

/// Crops each example to its box (int64 {N, 4}: top, left, height, width,
/// inside the image) and resizes the crop bilinearly to the batch's
/// H x W, as a crop followed by a resize does (half-pixel centres, edges
/// clamped to the crop); mirrored left-right where `flip` (bool {N}, may
/// be undefined) is true. One grid_sample for the batch.
CIGL_API torch::Tensor resized_crop_at(const torch::Tensor& batch,
                                       const torch::Tensor& boxes,
                                       const torch::Tensor& flip = {});

/// Boxes of torchvision's RandomResizedCrop (get_params) for `n` images of
/// height x width: up to ten tries of an area share uniform in `scale`
/// and an aspect ratio log-uniform in `ratio` that fit the image, placed
/// uniformly; else the centred crop of the clamped aspect ratio. int64
/// {n, 4} (top, left, height, width) on the CPU, drawn from `generator`.
CIGL_API torch::Tensor random_resized_crop_boxes(
    std::int64_t n, std::int64_t height, std::int64_t width,
    const std::array<double, 2>& scale, const std::array<double, 2>& ratio,
    torch::Generator& generator);

/// Training augmentation of image datasets: a random crop (pad-and-crop,
/// as CIFAR's standard recipe, or RandomResizedCrop back to the input
/// size), then a random horizontal flip (p = 0.5).
struct CIGL_API Augmentation {
  std::int64_t crop_padding = 0;  ///< pad-and-crop; 0: no crop
  bool horizontal_flip = false;
  std::vector<double> fill;   ///< per-channel value of the padded border
  bool reflect = false;       ///< pad by mirroring instead of `fill`
  bool resized_crop = false;  ///< RandomResizedCrop instead of pad-and-crop
  std::array<double, 2> scale{0.08, 1.0};  ///< resized crop: area share
  std::array<double, 2> ratio{3.0 / 4.0, 4.0 / 3.0};  ///< resized: w / h

  /// Reads the params of augmentation_params().
  static Augmentation from_params(const Params& params,
                                  std::vector<double> fill = {});

  bool active() const {
    return crop_padding > 0 || horizontal_flip || resized_crop;
  }
  /// Returns `batch` itself when nothing is enabled.
  torch::Tensor apply(const torch::Tensor& batch,
                      torch::Generator& generator) const;
};

/// The declarations every image dataset shares: `crop` ("pad", "resized"
/// or "none"), `crop_padding` (integer >= 0) and `padding_mode`
/// ("constant" or "reflect") of the pad-and-crop, `crop_scale` and
/// `crop_ratio` of the resized crop, and `horizontal_flip`, with the given
/// defaults for the padding and the flip.
CIGL_API std::vector<ParamSpec> augmentation_params(std::int64_t crop_padding,
                                                    bool horizontal_flip);

}  // namespace cigl
