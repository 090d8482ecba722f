// experiment.device, experiment.precision and experiment.channels_last on
// the CPU: what a user sees for a device that is not there, bfloat16
// autocast that keeps float32 weights and exact zeros, and channels-last
// batches that train the model the default layout does.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/core/device.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

std::string config_text(const std::string& experiment,
                        const std::string& method = "static") {
  return "[experiment]\nthreads = 2\n" + experiment +
         "\n[training]\nepochs = 1\nbatch_size = 32\n"
         "validation_fraction = 0.0\n"
         "[data]\nplugin = \"synthetic\"\ninput_shape = [1, 16, 16]\n"
         "train_size = 256\ntest_size = 64\n"
         "[model]\nplugin = \"lenet5\"\n"
         "[method]\nplugin = \"" +
         method + "\"\n" + (method == "dense" ? "" : "density = 0.2\n");
}

ExperimentConfig resolve(const std::string& text) {
  return ConfigDocument::from_string(text, "exp.toml")
      .resolve(test::bundled_registry());
}

TEST(Device, NamesResolve) {
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCPU));
  } else {
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(resolve_device("cuda"), torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(resolve_device("cuda:0"), torch::Device(torch::kCUDA, 0));
  }
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda0", "cuda:-1"}) {
    try {
      resolve_device(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("use \"auto\", \"cpu\", \"cuda\""),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Device, AMissingGpuIsOneLineNamingTheKeyAndWhatThereIs) {
  const auto count = torch::cuda::device_count();
  const std::string wanted = "cuda:" + std::to_string(count);  // one too far
  try {
    Trainer trainer(resolve(config_text("device = \"" + wanted + "\"")),
                    test::bundled_registry());
    FAIL() << "trained on " << wanted;
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.rfind("exp.toml:", 0), 0u) << what;
    EXPECT_NE(what.find("experiment.device: \"" + wanted + "\""),
              std::string::npos)
        << what;
    EXPECT_NE(
        what.find(count == 0 ? "no CUDA device is usable" : "CUDA device"),
        std::string::npos)
        << what;
  }
}

TEST(Precision, AutocastRunsMatmulsInBfloat16ForItsScopeOnly) {
  auto a = torch::randn({8, 8}), b = torch::randn({8, 8});
  {
    AutocastScope scope(torch::kCPU, Precision::bf16);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      AutocastScope nested(torch::kCPU, Precision::bf16);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  AutocastScope off(torch::kCPU, Precision::fp32);
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
}

// One epoch of 8 steps; returns the trainer for inspection.
std::unique_ptr<Trainer> train(const std::string& text) {
  auto trainer =
      std::make_unique<Trainer>(resolve(text), test::bundled_registry());
  trainer->train_epoch();
  return trainer;
}

TEST(Precision, Bf16KeepsFloat32WeightsAndExactZeros) {
  for (const char* method : {"static", "rigl", "cigl"}) {
    auto trainer = train(config_text("precision = \"bf16\"", method));
    const MaskSet* masks = trainer->method().mask_set();
    ASSERT_NE(masks, nullptr) << method;
    for (std::size_t i = 0; i < masks->size(); ++i) {
      const auto& w = masks->weight(i);
      EXPECT_EQ(w.scalar_type(), torch::kFloat) << method << " " << i;
      EXPECT_EQ(w.masked_select(masks->mask(i).logical_not())
                    .abs()
                    .sum()
                    .item<double>(),
                0.0)
          << method << " layer " << i;
    }
    for (const auto& p : trainer->model()->parameters()) {
      EXPECT_EQ(p.scalar_type(), torch::kFloat) << method;
      EXPECT_TRUE(torch::isfinite(p).all().item<bool>()) << method;
    }
  }
}

TEST(Precision, Bf16LossFollowsTheFloat32One) {
  // Same seed: the first epoch's mean loss agrees to bfloat16's precision
  // (8 bits of mantissa, about 0.4%; a few steps compound it).
  auto fp32 =
      Trainer(resolve(config_text("")), test::bundled_registry()).train_epoch();
  auto bf16 = Trainer(resolve(config_text("precision = \"bf16\"")),
                      test::bundled_registry())
                  .train_epoch();
  EXPECT_NEAR(bf16.train_loss, fp32.train_loss, 0.05 * fp32.train_loss);
  EXPECT_NE(bf16.train_loss, fp32.train_loss);  // it did run in bfloat16
}

TEST(ChannelsLast, TrainsTheSameModelInTheOtherLayout) {
  for (const char* method : {"static", "rigl", "cigl"}) {
    auto plain = train(config_text("", method));
    auto last = train(config_text("channels_last = true", method));
    auto a = plain->model()->named_parameters();
    auto b = last->model()->named_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i].value(), b[i].value(), 1e-4, 1e-5))
          << method << " " << a[i].key();
    }
    // Masks still hold: the inactive weights are exact zeros.
    const MaskSet* masks = last->method().mask_set();
    ASSERT_NE(masks, nullptr);
    for (std::size_t i = 0; i < masks->size(); ++i) {
      EXPECT_EQ(masks->weight(i)
                    .masked_select(masks->mask(i).logical_not())
                    .abs()
                    .sum()
                    .item<double>(),
                0.0)
          << method;
    }
  }
}

}  // namespace
}  // namespace cigl
