// Forward and backward passes of the image model plugins (label slow: the
// papers' full-size models, ImageNet's ResNet-50 at 224x224 included):
// finite logits of the right shape, and a gradient for every parameter.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "cigl/core/config.hpp"
#include "cigl/masking.hpp"
#include "cigl/model.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

/// Builds `plugin` with `settings` (TOML lines of the [model] section),
/// resolved like a config file so range checks apply.
std::shared_ptr<Model> build(const std::string& plugin,
                             const std::string& settings,
                             const ModelContext& context) {
  auto doc = ConfigDocument::from_string(
      "[model]\nplugin = \"" + plugin + "\"\n" + settings + "\n", "exp.toml");
  auto config = doc.resolve(test::bundled_registry());
  return test::bundled_registry().make<Model>(plugin, config.model.params,
                                              context);
}

std::string context_text(const ModelContext& context) {
  std::string out;
  for (auto d : context.input_shape) {
    out += (out.empty() ? "" : "x") + std::to_string(d);
  }
  return out + " -> " + std::to_string(context.num_classes);
}

const ModelContext kCifar10{{3, 32, 32}, 10};
const ModelContext kImageNet{{3, 224, 224}, 1000};

// --- Forward passes -------------------------------------------------------

/// A forward pass in eval mode on `batch` random inputs gives finite
/// logits of shape {batch, classes}.
void expect_logits(const std::string& plugin, const std::string& settings,
                   const ModelContext& context, std::int64_t batch) {
  SCOPED_TRACE(plugin + " " + settings + " " + context_text(context));
  torch::manual_seed(0);
  auto model = build(plugin, settings, context);
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> shape{batch};
  shape.insert(shape.end(), context.input_shape.begin(),
               context.input_shape.end());
  auto out = model->forward(torch::randn(shape));
  EXPECT_EQ(out.sizes().vec(),
            (std::vector<std::int64_t>{batch, context.num_classes}));
  EXPECT_TRUE(out.isfinite().all().item<bool>());
}

TEST(ModelForward, CifarResNet) {
  expect_logits("cifar_resnet", "depth = 18", ModelContext{{3, 32, 32}, 100},
                2);
  expect_logits("cifar_resnet", "depth = 34", kCifar10, 2);
  expect_logits("cifar_resnet", "", kCifar10, 2);
  expect_logits("cifar_resnet", "depth = 18", ModelContext{{1, 28, 28}, 10}, 2);
}

TEST(ModelForward, WideResNet) {
  expect_logits("wide_resnet", "", kCifar10, 2);
  expect_logits("wide_resnet", "depth = 28", kCifar10, 2);
  expect_logits("wide_resnet", "depth = 28\nwidth = 10", kCifar10, 1);
}

TEST(ModelForward, Vgg) {
  expect_logits("vgg", "depth = 16", kCifar10, 2);
  expect_logits("vgg", "", kCifar10, 2);
  // 28x28 halves to 1x1 only with ceil-mode pooling; 40x40 ends at 2x2 and
  // needs the adaptive pool; 17x17 is the smallest input allowed.
  expect_logits("vgg", "", ModelContext{{1, 28, 28}, 10}, 2);
  expect_logits("vgg", "depth = 16", ModelContext{{3, 40, 40}, 10}, 2);
  expect_logits("vgg", "depth = 16", ModelContext{{3, 17, 17}, 10}, 2);
}

TEST(ModelForward, MobileNetV1) {
  expect_logits("mobilenet_v1", "", kImageNet, 1);
  expect_logits("mobilenet_v1", "width_multiplier = 0.25", kCifar10, 2);
}

TEST(ModelForward, ResNet50) {
  expect_logits("resnet50", "", kImageNet, 1);
  expect_logits("resnet50", "", ModelContext{{1, 28, 28}, 10}, 2);
}

// Every parameter takes part in the forward pass: a module registered but
// left out of forward would get no gradient (and still be masked/counted).
TEST(ModelBackward, EveryParameterGetsAGradient) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"cifar_resnet", "depth = 18"},
      {"wide_resnet", "depth = 10"},
      {"vgg", "depth = 16"},
      {"mobilenet_v1", "width_multiplier = 0.25"},
      {"resnet50", ""}};
  for (const auto& [plugin, settings] : cases) {
    auto model = build(plugin, settings, ModelContext{{3, 32, 32}, 10});
    model->train();
    auto loss = torch::nn::functional::cross_entropy(
        model->forward(torch::randn({2, 3, 32, 32})),
        torch::tensor({1, 7}, torch::kLong));
    loss.backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << plugin << " " << p.key();
    }
  }
}

}  // namespace
}  // namespace cigl
