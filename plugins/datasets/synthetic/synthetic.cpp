// Dataset `synthetic`: deterministic, learnable data of any shape and
// class count, for tests and benchmarks that must not depend on files.
// Each class has a seeded prototype; an example is its class's prototype
// plus seeded noise. Image prototypes ([C, H, W]) are smooth and mirror
// symmetric, so crops and flips keep them recognisable.
#include <cmath>
#include <memory>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cigl/augment.hpp"
#include "cigl/dataset.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"

namespace {

/// Zero mean, unit variance, from the sum of four uniforms (Irwin-Hall):
/// uniform draws and IEEE additions give the same bits on every CPU,
/// where normal_'s vectorised log and cos need not.
torch::Tensor noise_like(torch::IntArrayRef shape,
                         torch::Generator& generator) {
  auto sum = torch::rand(shape, generator, torch::kFloat);
  for (int i = 1; i < 4; ++i) {
    sum.add_(torch::rand(shape, generator, torch::kFloat));
  }
  return sum.sub_(2.0).mul_(static_cast<float>(std::sqrt(3.0)));
}

/// Linear interpolation of `coarse` along `dim` to `size` points, with
/// endpoints on endpoints. Weights come from plain double arithmetic and
/// the blend from separate multiplies and adds, so no fused or vectorised
/// transcendental can change a bit between machines.
torch::Tensor upsample(const torch::Tensor& coarse, std::int64_t dim,
                       std::int64_t size) {
  const std::int64_t points = coarse.size(dim);
  std::vector<std::int64_t> lower(size), upper(size);
  std::vector<float> w_lower(size), w_upper(size);
  for (std::int64_t i = 0; i < size; ++i) {
    const double t = size == 1 ? 0.0
                               : static_cast<double>(i * (points - 1)) /
                                     static_cast<double>(size - 1);
    const auto lo =
        std::min(static_cast<std::int64_t>(std::floor(t)), points - 1);
    const double frac = t - static_cast<double>(lo);
    lower[i] = lo;
    upper[i] = std::min(lo + 1, points - 1);
    w_lower[i] = static_cast<float>(1.0 - frac);
    w_upper[i] = static_cast<float>(frac);
  }
  std::vector<std::int64_t> shape(coarse.dim(), 1);
  shape[dim] = size;
  auto weights = [&](std::vector<float>& w) {
    return torch::tensor(w).view(shape);
  };
  return coarse.index_select(dim, torch::tensor(lower)) * weights(w_lower) +
         coarse.index_select(dim, torch::tensor(upper)) * weights(w_upper);
}

class SyntheticDataset : public cigl::Dataset {
 public:
  explicit SyntheticDataset(const cigl::Params& p)
      : shape_(p.integers("input_shape")),
        classes_(p.integer("num_classes")),
        train_size_(p.integer("train_size")),
        test_size_(p.integer("test_size")),
        seed_(p.integer("seed")),
        noise_(p.number("noise")),
        augmentation_(cigl::Augmentation::from_params(p)) {
    if (shape_.empty()) p.fail("input_shape", "must name at least one size");
    for (auto d : shape_) {
      if (d < 1) p.fail("input_shape", "sizes must be at least 1");
    }
    if (augmentation_.active() && shape_.size() != 3) {
      p.fail(augmentation_.resized_crop       ? "crop"
             : augmentation_.crop_padding > 0 ? "crop_padding"
                                              : "horizontal_flip",
             "augments images: input_shape must be [channels, height, "
             "width]");
    }
  }

  cigl::DatasetInfo info() const override {
    return {shape_, classes_, train_size_};
  }

  cigl::DataBundle load() override {
    torch::Generator generator =
        at::make_generator<at::CPUGeneratorImpl>(seed_);
    const auto prototypes = make_prototypes(generator);
    cigl::DataBundle bundle;
    bundle.train = make_split(prototypes, train_size_, generator);
    bundle.test = make_split(prototypes, test_size_, generator);
    return bundle;
  }

  torch::Tensor augment(torch::Tensor inputs,
                        torch::Generator& generator) const override {
    return augmentation_.apply(inputs, generator);
  }

 private:
  /// {classes, shape...}: for images, a 4x4 grid of noise per channel
  /// (symmetric left-right) interpolated to full size; otherwise noise.
  torch::Tensor make_prototypes(torch::Generator& generator) const {
    std::vector<std::int64_t> full = {classes_};
    full.insert(full.end(), shape_.begin(), shape_.end());
    if (shape_.size() != 3) return noise_like(full, generator);
    const std::int64_t c = shape_[0], h = shape_[1], w = shape_[2];
    const std::int64_t grid_h = std::min<std::int64_t>(4, h);
    const std::int64_t grid_w = std::min<std::int64_t>(4, w);
    const std::int64_t half = (grid_w + 1) / 2;
    auto left = noise_like({classes_, c, grid_h, half}, generator);
    auto right =
        left.flip({3}).narrow(3, (grid_w % 2 == 1) ? 1 : 0, grid_w - half);
    auto grid = torch::cat({left, right}, 3);
    return upsample(upsample(grid, 2, h), 3, w).contiguous();
  }

  cigl::DataSplit make_split(const torch::Tensor& prototypes, std::int64_t n,
                             torch::Generator& generator) const {
    // Classes in turn: balanced, and every class present once n >= classes.
    auto labels = torch::arange(n, torch::kLong).remainder(classes_);
    std::vector<std::int64_t> shape = {n};
    shape.insert(shape.end(), shape_.begin(), shape_.end());
    auto inputs = noise_like(shape, generator)
                      .mul_(static_cast<float>(noise_))
                      .add_(prototypes.index_select(0, labels));
    return {inputs, labels};
  }

  std::vector<std::int64_t> shape_;
  std::int64_t classes_, train_size_, test_size_, seed_;
  double noise_;
  cigl::Augmentation augmentation_;
};

void register_synthetic(cigl::Registrar& r) {
  std::vector<cigl::ParamSpec> params = {
      cigl::ParamSpec::integers("input_shape", {3, 32, 32},
                                "shape of one example, e.g. [3, 32, 32] "
                                "(channels, height, width) or [784]"),
      cigl::ParamSpec::integer("num_classes", 10, "number of classes").min(1),
      cigl::ParamSpec::integer("train_size", 2048, "training examples").min(1),
      cigl::ParamSpec::integer("test_size", 512, "test examples").min(1),
      cigl::ParamSpec::integer("seed", 0,
                               "the data's seed: the same seed gives the "
                               "same bits on every machine")
          .min(0),
      cigl::ParamSpec::number("noise", 1.0,
                              "standard deviation of the noise added to the "
                              "class prototypes (whose entries have about "
                              "unit scale)")
          .min(0),
  };
  for (auto& spec : cigl::augmentation_params(0, false)) {
    params.push_back(spec);
  }
  r.add<cigl::Dataset>(
      {"synthetic",
       "seeded class prototypes plus noise, any shape and class count, no "
       "files (tests, benchmarks)",
       params},
      [](const cigl::Params& p) {
        return std::make_shared<SyntheticDataset>(p);
      });
}

}  // namespace

CIGL_PLUGIN("synthetic", "1.0.0", register_synthetic)
