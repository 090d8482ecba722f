#include "cigl/augment.hpp"

#include <string>
#include <utility>

#include <torch/torch.h>

#include "cigl/error.hpp"

namespace cigl {

namespace {

void check_batch(const torch::Tensor& batch, const char* what) {
  if (!batch.defined() || batch.dim() != 4) {
    throw Error(std::string(what) +
                ": expects a batch of images {N, C, H, W}, got " +
                (batch.defined() ? std::to_string(batch.dim()) + " dimensions"
                                 : std::string("no tensor")));
  }
}

void check_offsets(const torch::Tensor& offsets, std::int64_t n,
                   std::int64_t padding, const char* axis) {
  if (!offsets.defined() || offsets.dim() != 1 || offsets.size(0) != n) {
    throw Error(std::string("crop_at: offsets_") + axis + " must be {" +
                std::to_string(n) + "}, one per example");
  }
  // Only checked where it costs no device synchronisation.
  if (offsets.is_cpu() && n > 0 &&
      (offsets.min().item<std::int64_t>() < 0 ||
       offsets.max().item<std::int64_t>() > 2 * padding)) {
    throw Error(std::string("crop_at: offsets_") + axis + " outside [0, " +
                std::to_string(2 * padding) + "]");
  }
}

/// One gather for any mix of crop and flip: output pixel (h, w) of example
/// n reads the padded image at (oy[n] + h, ox[n] + w), or at column
/// ox[n] + W-1-w where `flip` is set. Undefined offsets or mask: none.
torch::Tensor crop_and_flip(const torch::Tensor& batch, std::int64_t padding,
                            const torch::Tensor& offsets_y,
                            const torch::Tensor& offsets_x,
                            const torch::Tensor& flip,
                            const std::vector<double>& fill) {
  const std::int64_t n = batch.size(0), c = batch.size(1), h = batch.size(2),
                     w = batch.size(3);
  if (batch.numel() == 0) return batch;
  const auto on_device =
      torch::TensorOptions(torch::kLong).device(batch.device());
  torch::Tensor source = batch;
  if (padding > 0) {
    source =
        torch::empty({n, c, h + 2 * padding, w + 2 * padding}, batch.options());
    if (fill.empty()) {
      source.zero_();
    } else {
      // A scalar fill per channel: no host-to-device copy on a GPU.
      for (std::int64_t k = 0; k < c; ++k) {
        source.select(1, k).fill_(fill[static_cast<std::size_t>(k)]);
      }
    }
    source.narrow(2, padding, h).narrow(3, padding, w).copy_(batch);
  }
  auto rows = torch::arange(h, on_device).view({1, h});
  auto cols = torch::arange(w, on_device).view({1, w});
  if (flip.defined()) {
    cols = torch::where(flip.to(batch.device(), torch::kBool).view({n, 1}),
                        (w - 1) - cols, cols);
  }
  if (offsets_y.defined()) rows = rows + offsets_y.to(on_device).view({n, 1});
  if (offsets_x.defined()) cols = cols + offsets_x.to(on_device).view({n, 1});
  // A flat index into each example's planes: one gather for the batch.
  const std::int64_t width = source.size(3);
  auto index = (rows.unsqueeze(2) * width + cols.unsqueeze(1))
                   .expand({n, h, w})
                   .reshape({n, 1, h * w})
                   .expand({n, c, h * w});
  return source.reshape({n, c, source.size(2) * width})
      .gather(2, index)
      .view({n, c, h, w});
}

void check_fill(const std::vector<double>& fill, std::int64_t channels,
                const char* what) {
  if (!fill.empty() && static_cast<std::int64_t>(fill.size()) != channels) {
    throw Error(std::string(what) + ": " + std::to_string(fill.size()) +
                " fill values for " + std::to_string(channels) + " channels");
  }
}

/// Draws happen on the generator's device: a CUDA generator gives offsets
/// already on the GPU, with no host work in the training step.
torch::TensorOptions draw_options(torch::ScalarType type,
                                  const torch::Generator& generator) {
  return torch::TensorOptions(type).device(generator.device());
}

void check_mask(const torch::Tensor& mask, std::int64_t n) {
  if (!mask.defined() || mask.dim() != 1 || mask.size(0) != n) {
    throw Error("flip_where: mask must be {" + std::to_string(n) +
                "}, one per example");
  }
}

}  // namespace

torch::Tensor crop_at(const torch::Tensor& batch, std::int64_t padding,
                      const torch::Tensor& offsets_y,
                      const torch::Tensor& offsets_x,
                      const std::vector<double>& fill) {
  check_batch(batch, "crop_at");
  if (padding < 0) throw Error("crop_at: padding must be >= 0");
  check_offsets(offsets_y, batch.size(0), padding, "y");
  check_offsets(offsets_x, batch.size(0), padding, "x");
  check_fill(fill, batch.size(1), "crop_at");
  if (padding == 0) return batch;
  return crop_and_flip(batch, padding, offsets_y, offsets_x, {}, fill);
}

torch::Tensor random_crop(const torch::Tensor& batch, std::int64_t padding,
                          torch::Generator& generator,
                          const std::vector<double>& fill) {
  check_batch(batch, "random_crop");
  if (padding <= 0) return batch;
  const std::int64_t n = batch.size(0);
  auto y = torch::randint(0, 2 * padding + 1, {n}, generator,
                          draw_options(torch::kLong, generator));
  auto x = torch::randint(0, 2 * padding + 1, {n}, generator,
                          draw_options(torch::kLong, generator));
  return crop_at(batch, padding, y, x, fill);
}

torch::Tensor flip_where(const torch::Tensor& batch,
                         const torch::Tensor& mask) {
  check_batch(batch, "flip_where");
  check_mask(mask, batch.size(0));
  return crop_and_flip(batch, 0, {}, {}, mask, {});
}

torch::Tensor random_horizontal_flip(const torch::Tensor& batch,
                                     torch::Generator& generator, double p) {
  check_batch(batch, "random_horizontal_flip");
  if (p <= 0) return batch;
  auto mask = torch::rand({batch.size(0)}, generator,
                          draw_options(torch::kFloat, generator)) < p;
  return flip_where(batch, mask);
}

Augmentation Augmentation::from_params(const Params& params,
                                       std::vector<double> fill) {
  Augmentation a;
  a.crop_padding = params.integer("crop_padding");
  a.horizontal_flip = params.boolean("horizontal_flip");
  a.fill = std::move(fill);
  return a;
}

torch::Tensor Augmentation::apply(const torch::Tensor& batch,
                                  torch::Generator& generator) const {
  if (!active()) return batch;
  check_batch(batch, "Augmentation");
  check_fill(fill, batch.size(1), "Augmentation");
  // torchvision's order for CIFAR: RandomCrop, then RandomHorizontalFlip;
  // the draws are those of random_crop() then random_horizontal_flip(),
  // applied in one gather instead of two passes.
  const std::int64_t n = batch.size(0), span = 2 * crop_padding + 1;
  torch::Tensor y, x, flip;
  if (crop_padding > 0) {
    y = torch::randint(0, span, {n}, generator,
                       draw_options(torch::kLong, generator));
    x = torch::randint(0, span, {n}, generator,
                       draw_options(torch::kLong, generator));
  }
  if (horizontal_flip) {
    flip = torch::rand({n}, generator, draw_options(torch::kFloat, generator)) <
           0.5;
  }
  return crop_and_flip(batch, crop_padding, y, x, flip, fill);
}

std::vector<ParamSpec> augmentation_params(std::int64_t crop_padding,
                                           bool horizontal_flip) {
  return {
      ParamSpec::integer("crop_padding", crop_padding,
                         "training batches: pad by N pixels (zero pixels) "
                         "and crop a random window of the original size; "
                         "0: no crop")
          .min(0),
      ParamSpec::boolean("horizontal_flip", horizontal_flip,
                         "training batches: mirror each image left-right "
                         "with probability 0.5"),
  };
}

}  // namespace cigl
