// Batch-wise augmentation (cigl/augment.hpp) against hand-written crops and
// flips of tiny tensors.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <random>

#include "cigl/augment.hpp"
#include "cigl/error.hpp"

namespace cigl {
namespace {

torch::Tensor longs(std::vector<std::int64_t> v) {
  return torch::tensor(v, torch::kLong);
}

torch::Generator seeded(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

// One 2x3 image [[1 2 3] [4 5 6]], padded by 1 with fill 9:
//   9 9 9 9 9
//   9 1 2 3 9
//   9 4 5 6 9
//   9 9 9 9 9
TEST(CropAt, TakesTheWindowAtTheOffsetWithTheFillInTheBorder) {
  auto image = torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({1, 1, 2, 3});
  auto top_left = crop_at(image, 1, longs({0}), longs({0}), {9.0});
  EXPECT_TRUE(torch::equal(
      top_left,
      torch::tensor({9.f, 9.f, 9.f, 9.f, 1.f, 2.f}).view({1, 1, 2, 3})));
  auto bottom_right = crop_at(image, 1, longs({2}), longs({2}), {9.0});
  EXPECT_TRUE(torch::equal(
      bottom_right,
      torch::tensor({5.f, 6.f, 9.f, 9.f, 9.f, 9.f}).view({1, 1, 2, 3})));
  // Offsets (p, p) are the image itself.
  EXPECT_TRUE(
      torch::equal(crop_at(image, 1, longs({1}), longs({1}), {9.0}), image));
}

// Two 2-channel 3x3 images, padding 1, fill -1 on channel 0 and -2 on
// channel 1; example 0 shifted by (dy, dx) = (-1, +1), example 1 by (+1, 0).
TEST(CropAt, EachExampleUsesItsOwnOffsetsAndEachChannelItsFill) {
  auto batch = torch::arange(1, 37, torch::kFloat).view({2, 2, 3, 3});
  auto out = crop_at(batch, 1, longs({0, 2}), longs({2, 1}), {-1.0, -2.0});
  // Example 0, channel 0 is [[1 2 3] [4 5 6] [7 8 9]]: window rows -1..1,
  // columns 1..3 of the original.
  auto expected =
      torch::tensor({// example 0, channel 0
                     -1.f, -1.f, -1.f, 2.f, 3.f, -1.f, 5.f, 6.f, -1.f,
                     // example 0, channel 1 (10..18)
                     -2.f, -2.f, -2.f, 11.f, 12.f, -2.f, 14.f, 15.f, -2.f,
                     // example 1, channel 0 (19..27): rows 1..3, columns 0..2
                     22.f, 23.f, 24.f, 25.f, 26.f, 27.f, -1.f, -1.f, -1.f,
                     // example 1, channel 1 (28..36)
                     31.f, 32.f, 33.f, 34.f, 35.f, 36.f, -2.f, -2.f, -2.f});
  EXPECT_TRUE(torch::equal(out, expected.view({2, 2, 3, 3}))) << out;
}

TEST(CropAt, DefaultFillIsZero) {
  auto image = torch::ones({1, 1, 2, 2});
  auto out = crop_at(image, 2, longs({0}), longs({4}));
  EXPECT_EQ(out.sum().item<float>(), 0.f);
}

TEST(CropAt, RejectsOffsetsOutsideThePaddedImage) {
  auto image = torch::ones({1, 1, 2, 2});
  EXPECT_THROW(crop_at(image, 1, longs({3}), longs({0})), Error);
  EXPECT_THROW(crop_at(image, 1, longs({0, 0}), longs({0})), Error);
  EXPECT_THROW(crop_at(image, 1, longs({0}), longs({0}), {1.0, 2.0}), Error);
}

TEST(FlipWhere, MirrorsOnlyTheMaskedExamples) {
  auto batch = torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({2, 1, 1, 3});
  auto out = flip_where(batch, torch::tensor({true, false}));
  EXPECT_TRUE(torch::equal(
      out, torch::tensor({3.f, 2.f, 1.f, 4.f, 5.f, 6.f}).view({2, 1, 1, 3})));
}

// Every example's value is its own index, constant over the image, with a
// fill no example has: the crop offsets can be read back from where the
// fill shows.
TEST(RandomCrop, OffsetsStayInRangeAndRepeatWithTheSeed) {
  const std::int64_t n = 200, p = 2;
  auto batch = torch::arange(n, torch::kFloat)
                   .view({n, 1, 1, 1})
                   .expand({n, 1, 5, 5})
                   .contiguous();
  auto g1 = seeded(7), g2 = seeded(7);
  auto a = random_crop(batch, p, g1, {-1.0});
  auto b = random_crop(batch, p, g2, {-1.0});
  EXPECT_TRUE(torch::equal(a, b));
  // A 5x5 window of a 9x9 padded image always keeps the inner 1x1 centre
  // of the original (rows and columns 2 of the window shifted by <= 2).
  EXPECT_TRUE(torch::equal(a.select(2, 2).select(2, 2).view({n}),
                           torch::arange(n, torch::kFloat)));
  // The centre column shows |offset_y - p| rows of fill: offsets in
  // [0, 2p] give 0, 1 or 2 of them, and 200 draws give all three.
  auto fill_rows = (a.select(3, 2) == -1).sum({1, 2});
  EXPECT_TRUE(
      torch::equal(std::get<0>(torch::_unique(fill_rows)), longs({0, 1, 2})))
      << fill_rows;
  auto shifted = (a != batch).any(3).any(2).any(1);
  EXPECT_GT(shifted.sum().item<std::int64_t>(), n / 2);
  auto g3 = seeded(8);
  EXPECT_FALSE(torch::equal(a, random_crop(batch, p, g3, {-1.0})));
}

TEST(RandomHorizontalFlip, ProbabilityZeroAndOneAreNeverAndAlways) {
  auto batch = torch::arange(24, torch::kFloat).view({4, 1, 2, 3});
  auto g = seeded(1);
  EXPECT_TRUE(torch::equal(random_horizontal_flip(batch, g, 0.0), batch));
  EXPECT_TRUE(
      torch::equal(random_horizontal_flip(batch, g, 1.0), batch.flip({3})));
}

TEST(RandomHorizontalFlip, FlipsAboutHalfAtTheDefault) {
  auto batch = torch::arange(3, torch::kFloat)
                   .view({1, 1, 1, 3})
                   .expand({1000, 1, 1, 3});
  auto g = seeded(3);
  auto out = random_horizontal_flip(batch, g);
  auto flipped = (out.select(3, 0) == 2).sum().item<std::int64_t>();
  EXPECT_GT(flipped, 430);  // binomial(1000, 0.5): 5 standard deviations
  EXPECT_LT(flipped, 570);
}

TEST(Augmentation, WithNothingEnabledIsTheIdentity) {
  auto batch = torch::randn({3, 2, 4, 4});
  auto g = seeded(0);
  Augmentation none;
  EXPECT_FALSE(none.active());
  EXPECT_TRUE(torch::equal(none.apply(batch, g), batch));
}

TEST(Augmentation, CropsThenFlipsLikeTheTwoCallsInThatOrder) {
  auto batch = torch::randn({6, 3, 4, 4});
  Augmentation both{1, true, {0.5, 0.25, 0.0}};
  auto g1 = seeded(4), g2 = seeded(4);
  auto by_hand = random_horizontal_flip(
      random_crop(batch, 1, g2, {0.5, 0.25, 0.0}), g2, 0.5);
  EXPECT_TRUE(torch::equal(both.apply(batch, g1), by_hand));
}

TEST(Augmentation, ParamsDeclareCropPaddingAndFlipWithTheGivenDefaults) {
  auto specs = augmentation_params(4, true);
  auto find = [&](const std::string& name) -> const ParamSpec& {
    for (const auto& s : specs) {
      if (s.name == name) return s;
    }
    throw std::runtime_error("no " + name);
  };
  EXPECT_EQ(std::get<std::int64_t>(find("crop_padding").default_value), 4);
  EXPECT_EQ(find("crop_padding").minimum, 0.0);
  EXPECT_EQ(std::get<bool>(find("horizontal_flip").default_value), true);
  EXPECT_EQ(std::get<std::string>(find("crop").default_value), "pad");
  EXPECT_EQ(std::get<std::string>(find("padding_mode").default_value),
            "constant");
  // torchvision's RandomResizedCrop defaults.
  EXPECT_EQ(std::get<std::vector<double>>(find("crop_scale").default_value),
            (std::vector<double>{0.08, 1.0}));
  EXPECT_EQ(std::get<std::vector<double>>(find("crop_ratio").default_value),
            (std::vector<double>{3.0 / 4.0, 4.0 / 3.0}));
}

// Reflect padding mirrors without repeating the edge: row [1 2 3] padded
// by 1 reads [2 1 2 3 2].
TEST(CropAt, ReflectPaddingMirrorsTheImage) {
  auto image = torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({1, 1, 2, 3});
  // Padded by 1:   5 4 5 6 5
  //                2 1 2 3 2
  //                5 4 5 6 5
  //                2 1 2 3 2
  auto top_left = crop_at(image, 1, longs({0}), longs({0}), {}, true);
  EXPECT_TRUE(torch::equal(
      top_left,
      torch::tensor({5.f, 4.f, 5.f, 2.f, 1.f, 2.f}).view({1, 1, 2, 3})));
  auto bottom_right = crop_at(image, 1, longs({2}), longs({2}), {}, true);
  EXPECT_TRUE(torch::equal(
      bottom_right,
      torch::tensor({5.f, 6.f, 5.f, 2.f, 3.f, 2.f}).view({1, 1, 2, 3})));
  EXPECT_THROW(crop_at(image, 2, longs({0}), longs({0}), {}, true), Error);
}

// A 2x2 box of a 4x4 image resized to 4x4: output pixel k reads source
// coordinate (k + 1/2) / 2 - 1/2 = -0.25, 0.25, 0.75, 1.25 within the
// crop, clamped to [0, 1] -- so rows and columns interpolate 0, 0.25,
// 0.75, 1 of the way between the crop's two pixels, never outside it.
TEST(ResizedCropAt, IsBilinearWithinTheCropByHand) {
  auto image = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  // Box at rows 1-2, columns 2-3: [[6 7] [10 11]].
  auto out = resized_crop_at(image, longs({1, 2, 2, 2}).view({1, 4}));
  const float t[4] = {0.f, 0.25f, 0.75f, 1.f};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      const float top = 6 + t[c], bottom = 10 + t[c];
      const float expected = top + (bottom - top) * t[r];
      EXPECT_NEAR(out[0][0][r][c].item<float>(), expected, 1e-5) << r << c;
    }
  }
  // The whole image as its box is the image; flipped, it is mirrored.
  auto whole = longs({0, 0, 4, 4}).view({1, 4});
  EXPECT_TRUE(torch::allclose(resized_crop_at(image, whole), image, 0, 1e-5));
  EXPECT_TRUE(
      torch::allclose(resized_crop_at(image, whole, torch::tensor({true})),
                      image.flip({3}), 0, 1e-5));
  EXPECT_THROW(resized_crop_at(image, longs({3, 0, 2, 2}).view({1, 4})), Error);
}

// RandomResizedCrop's boxes with a fixed seed, against the distribution
// they come from: inside the image, aspect ratio within the range, area
// share within [0.08, 1], and a mean area share near what rejection
// sampling of U(0.08, 1) against the fit gives (computed in the test).
TEST(RandomResizedCrop, BoxesFollowTorchvisionsDistribution) {
  auto g = seeded(7);
  const std::int64_t n = 20000, size = 32;
  auto boxes = random_resized_crop_boxes(n, size, size, {0.08, 1.0},
                                         {3.0 / 4.0, 4.0 / 3.0}, g);
  ASSERT_EQ(boxes.sizes(), (std::vector<std::int64_t>{n, 4}));
  auto top = boxes.select(1, 0), left = boxes.select(1, 1),
       h = boxes.select(1, 2).to(torch::kDouble),
       w = boxes.select(1, 3).to(torch::kDouble);
  EXPECT_GE(top.min().item<std::int64_t>(), 0);
  EXPECT_GE(left.min().item<std::int64_t>(), 0);
  EXPECT_LE((top + boxes.select(1, 2)).max().item<std::int64_t>(), size);
  EXPECT_LE((left + boxes.select(1, 3)).max().item<std::int64_t>(), size);
  auto share = (h * w) / (size * size);
  // Rounding to whole pixels moves the share and the ratio a little.
  EXPECT_GE(share.min().item<double>(), 0.06);
  EXPECT_LE(share.max().item<double>(), 1.0);
  auto ratio = w / h;
  EXPECT_GE(ratio.min().item<double>(), 0.6);
  EXPECT_LE(ratio.max().item<double>(), 1.5);
  // Independent simulation of the accepted share with another generator:
  // area a ~ U(0.08, 1) of the image, log r ~ U(log 3/4, log 4/3), sides
  // rounded to pixels, accepted when both fit (ten tries fail almost
  // never, so the fallback is left out).
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> s(0.08, 1.0),
      lr(std::log(0.75), std::log(4.0 / 3.0));
  double total = 0;
  int accepted = 0;
  while (accepted < 200000) {
    const double a = s(rng) * size * size, r = std::exp(lr(rng));
    const double sw = std::round(std::sqrt(a * r)),
                 sh = std::round(std::sqrt(a / r));
    if (sw >= 1 && sw <= size && sh >= 1 && sh <= size) {
      total += sw * sh / (size * size);
      ++accepted;
    }
  }
  EXPECT_NEAR(share.mean().item<double>(), total / accepted, 0.005);
  // Placement is uniform: the mean top offset is half the free room.
  EXPECT_NEAR(top.to(torch::kDouble).mean().item<double>(),
              ((size - h) / 2).mean().item<double>(), 0.1);
}

TEST(Augmentation, ResizedCropOfTheWholeImageWithoutFlipIsTheIdentity) {
  auto batch = torch::randn({5, 3, 8, 8});
  Augmentation a;
  a.resized_crop = true;
  a.scale = {1.0, 1.0};
  a.ratio = {1.0, 1.0};
  auto g = seeded(1);
  EXPECT_TRUE(torch::allclose(a.apply(batch, g), batch, 0, 1e-5));
}

}  // namespace
}  // namespace cigl
