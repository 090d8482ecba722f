#include "cigl/augment.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "cigl/error.hpp"
#include "random_bits.hpp"

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

/// Index i of a row or column of length `size` padded by mirroring (no
/// repeated edge): -1 reads 1, size reads size - 2.
torch::Tensor reflect_index(const torch::Tensor& i, std::int64_t size) {
  auto r = i.abs();
  return torch::where(r > size - 1, 2 * (size - 1) - r, r);
}

/// One gather for any mix of crop and flip: output pixel (h, w) of example
/// n reads the padded image at (oy[n] + h, ox[n] + w), or at column
/// ox[n] + W-1-w where `flip` is set. Undefined offsets or mask: none.
/// With `reflect` the padded image is never built: indices are mirrored
/// into the original.
torch::Tensor crop_and_flip(const torch::Tensor& batch, std::int64_t padding,
                            const torch::Tensor& offsets_y,
                            const torch::Tensor& offsets_x,
                            const torch::Tensor& flip,
                            const std::vector<double>& fill,
                            bool reflect = false) {
  const std::int64_t n = batch.size(0), c = batch.size(1), h = batch.size(2),
                     w = batch.size(3);
  if (batch.numel() == 0) return batch;
  const auto on_device =
      torch::TensorOptions(torch::kLong).device(batch.device());
  torch::Tensor source = batch;
  if (padding > 0 && reflect) {
    if (padding >= h || padding >= w) {
      throw Error("reflect padding of " + std::to_string(padding) +
                  " needs images larger than that; got " + std::to_string(h) +
                  "x" + std::to_string(w));
    }
  } else if (padding > 0) {
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
  if (reflect && padding > 0) {
    rows = reflect_index(rows - padding, h);
    cols = reflect_index(cols - padding, w);
  }
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
                      const std::vector<double>& fill, bool reflect) {
  check_batch(batch, "crop_at");
  if (padding < 0) throw Error("crop_at: padding must be >= 0");
  check_offsets(offsets_y, batch.size(0), padding, "y");
  check_offsets(offsets_x, batch.size(0), padding, "x");
  check_fill(fill, batch.size(1), "crop_at");
  if (padding == 0) return batch;
  return crop_and_flip(batch, padding, offsets_y, offsets_x, {}, fill, reflect);
}

torch::Tensor resized_crop_at(const torch::Tensor& batch,
                              const torch::Tensor& boxes,
                              const torch::Tensor& flip) {
  check_batch(batch, "resized_crop_at");
  const std::int64_t n = batch.size(0), h = batch.size(2), w = batch.size(3);
  if (!boxes.defined() || boxes.dim() != 2 || boxes.size(0) != n ||
      boxes.size(1) != 4) {
    throw Error("resized_crop_at: boxes must be {" + std::to_string(n) +
                ", 4}: top, left, height, width");
  }
  if (flip.defined()) check_mask(flip, n);
  if (n == 0) return batch;
  const auto b = boxes.to(torch::kCPU, torch::kLong);
  const auto top = b.select(1, 0), left = b.select(1, 1),
             height = b.select(1, 2), width = b.select(1, 3);
  if (height.min().item<std::int64_t>() < 1 ||
      width.min().item<std::int64_t>() < 1 ||
      top.min().item<std::int64_t>() < 0 ||
      left.min().item<std::int64_t>() < 0 ||
      (top + height).max().item<std::int64_t>() > h ||
      (left + width).max().item<std::int64_t>() > w) {
    throw Error("resized_crop_at: a box is empty or outside the " +
                std::to_string(h) + "x" + std::to_string(w) + " image");
  }
  // Source coordinate of output pixel k along an axis of the crop:
  // (k + 1/2) * crop / out - 1/2, clamped to the crop, in the whole
  // image's pixels; then normalised for grid_sample (align_corners off:
  // pixel x sits at (2x + 1) / size - 1).
  const auto options = torch::TensorOptions(torch::kDouble);
  auto axis = [&](const torch::Tensor& start, const torch::Tensor& length,
                  std::int64_t out, std::int64_t size) {
    auto k = torch::arange(out, options).view({1, out});
    auto len = length.to(torch::kDouble).view({n, 1});
    auto first = start.to(torch::kDouble).view({n, 1});
    auto x = (k + 0.5) * len / static_cast<double>(out) - 0.5;
    x = torch::min(torch::max(x, torch::zeros_like(x)), len - 1) + first;
    return (2 * x + 1) / static_cast<double>(size) - 1;
  };
  auto ys = axis(top, height, h, h);  // {n, h}
  auto xs = axis(left, width, w, w);  // {n, w}
  if (flip.defined()) {
    xs = torch::where(flip.to(torch::kCPU, torch::kBool).view({n, 1}),
                      xs.flip({1}), xs);
  }
  auto grid = torch::stack({xs.view({n, 1, w}).expand({n, h, w}),
                            ys.view({n, h, 1}).expand({n, h, w})},
                           3)
                  .to(batch.device(), batch.scalar_type());
  return torch::grid_sampler(batch, grid, /*interpolation_mode=*/0,
                             /*padding_mode=*/1, /*align_corners=*/false);
}

torch::Tensor random_resized_crop_boxes(std::int64_t n, std::int64_t height,
                                        std::int64_t width,
                                        const std::array<double, 2>& scale,
                                        const std::array<double, 2>& ratio,
                                        torch::Generator& generator) {
  if (!(scale[0] > 0 && scale[0] <= scale[1]) ||
      !(ratio[0] > 0 && ratio[0] <= ratio[1])) {
    throw Error(
        "random resized crop: scale and ratio must be increasing pairs of "
        "positive numbers");
  }
  auto boxes = torch::empty({n, 4}, torch::kLong);
  auto out = boxes.accessor<std::int64_t, 2>();
  auto* impl = generator.get<at::CPUGeneratorImpl>();
  std::lock_guard<std::mutex> lock(generator.mutex());
  RandomBits bits{impl};
  const double area = static_cast<double>(height * width);
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (std::int64_t e = 0; e < n; ++e) {
    bool found = false;
    for (int attempt = 0; attempt < 10 && !found; ++attempt) {
      const double target = area * std::uniform_real_distribution<double>(
                                       scale[0], scale[1])(bits);
      const double aspect = std::exp(
          std::uniform_real_distribution<double>(log_lo, log_hi)(bits));
      const auto w =
          static_cast<std::int64_t>(std::round(std::sqrt(target * aspect)));
      const auto h =
          static_cast<std::int64_t>(std::round(std::sqrt(target / aspect)));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        out[e][0] =
            std::uniform_int_distribution<std::int64_t>(0, height - h)(bits);
        out[e][1] =
            std::uniform_int_distribution<std::int64_t>(0, width - w)(bits);
        out[e][2] = h;
        out[e][3] = w;
        found = true;
      }
    }
    if (found) continue;
    // The centred fallback of torchvision's get_params.
    const double in_ratio =
        static_cast<double>(width) / static_cast<double>(height);
    std::int64_t w = width, h = height;
    if (in_ratio < ratio[0]) {
      h = std::llround(static_cast<double>(w) / ratio[0]);
    } else if (in_ratio > ratio[1]) {
      w = std::llround(static_cast<double>(h) * ratio[1]);
    }
    out[e][0] = (height - h) / 2;
    out[e][1] = (width - w) / 2;
    out[e][2] = h;
    out[e][3] = w;
  }
  return boxes;
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
  const std::string crop = params.string("crop");
  a.crop_padding = crop == "pad" ? params.integer("crop_padding") : 0;
  a.horizontal_flip = params.boolean("horizontal_flip");
  a.fill = std::move(fill);
  a.reflect = params.string("padding_mode") == "reflect";
  a.resized_crop = crop == "resized";
  for (const char* key : {"crop_scale", "crop_ratio"}) {
    const auto& v = params.numbers(key);
    if (v.size() != 2 || !(v[0] > 0) || v[0] > v[1]) {
      params.fail(key, "must be [low, high] with 0 < low <= high");
    }
  }
  if (params.numbers("crop_scale")[1] > 1) {
    params.fail("crop_scale", "is a share of the image area, at most 1");
  }
  a.scale = {params.numbers("crop_scale")[0], params.numbers("crop_scale")[1]};
  a.ratio = {params.numbers("crop_ratio")[0], params.numbers("crop_ratio")[1]};
  return a;
}

torch::Tensor Augmentation::apply(const torch::Tensor& batch,
                                  torch::Generator& generator) const {
  if (!active()) return batch;
  check_batch(batch, "Augmentation");
  check_fill(fill, batch.size(1), "Augmentation");
  if (resized_crop) {
    // Crop, resize and flip in one grid_sample; the flip is drawn after
    // the boxes, as RandomHorizontalFlip follows RandomResizedCrop.
    const std::int64_t n = batch.size(0);
    auto boxes = random_resized_crop_boxes(n, batch.size(2), batch.size(3),
                                           scale, ratio, generator);
    torch::Tensor flip;
    if (horizontal_flip) {
      flip = torch::rand({n}, generator, torch::kFloat) < 0.5;
    }
    return resized_crop_at(batch, boxes, flip);
  }
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
  return crop_and_flip(batch, crop_padding, y, x, flip, fill, reflect);
}

std::vector<ParamSpec> augmentation_params(std::int64_t crop_padding,
                                           bool horizontal_flip) {
  return {
      ParamSpec::string("crop", "pad",
                        "training batches: \"pad\" (pad by crop_padding, "
                        "crop a random window of the original size), "
                        "\"resized\" (RandomResizedCrop: a random box of "
                        "crop_scale of the area and crop_ratio aspect, "
                        "resized back bilinearly) or \"none\"")
          .one_of({"pad", "resized", "none"}),
      ParamSpec::integer("crop_padding", crop_padding,
                         "crop = \"pad\": pad by N pixels and crop a random "
                         "window of the original size; 0: no crop")
          .min(0),
      ParamSpec::string("padding_mode", "constant",
                        "crop = \"pad\": \"constant\" (black pixels) or "
                        "\"reflect\" (mirror the image)")
          .one_of({"constant", "reflect"}),
      ParamSpec::numbers("crop_scale", {0.08, 1.0},
                         "crop = \"resized\": range of the box's share of "
                         "the image area"),
      ParamSpec::numbers("crop_ratio", {3.0 / 4.0, 4.0 / 3.0},
                         "crop = \"resized\": range of the box's aspect "
                         "ratio (width / height), drawn log-uniformly"),
      ParamSpec::boolean("horizontal_flip", horizontal_flip,
                         "training batches: mirror each image left-right "
                         "with probability 0.5"),
  };
}

}  // namespace cigl
