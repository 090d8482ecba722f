// The image model plugins of the CigL and RigL papers: parameter counts
// against the published figures (and closed-form counts where none is
// published), maskable layers in forward order, the initialisation, and
// clear errors for bad parameters and inputs. Forward and backward passes
// of every model: test_models_forward.cpp (label slow).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <tuple>
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

std::string error_of(const std::string& plugin, const std::string& settings,
                     const ModelContext& context) {
  try {
    build(plugin, settings, context);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string context_text(const ModelContext& context) {
  std::string out;
  for (auto d : context.input_shape) {
    out += (out.empty() ? "" : "x") + std::to_string(d);
  }
  return out + " -> " + std::to_string(context.num_classes);
}

std::int64_t parameter_count(Model& model) {
  std::int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

const ModelContext kCifar10{{3, 32, 32}, 10};
const ModelContext kImageNet{{3, 224, 224}, 1000};

// --- Closed-form counts, written independently of the plugins ------------

/// Pre-activation WRN-depth-k: bias-free convolutions, BN (2 per channel)
/// before each, a 1x1 projection where the channels change, final BN, fc.
std::int64_t wrn_count(std::int64_t depth, std::int64_t k, std::int64_t in_c,
                       std::int64_t classes) {
  const std::int64_t n = (depth - 4) / 6;
  std::int64_t total = in_c * 16 * 9;  // stem
  std::int64_t in = 16;
  for (std::int64_t out : {16 * k, 32 * k, 64 * k}) {
    // First block: in -> out (+ projection if in != out).
    total += 2 * in + in * out * 9 + 2 * out + out * out * 9;
    if (in != out) total += in * out;
    // n - 1 blocks out -> out.
    total += (n - 1) * (2 * out + out * out * 9 + 2 * out + out * out * 9);
    in = out;
  }
  return total + 2 * in + in * classes + classes;
}

/// MobileNet v1 at a multiplier whose channels are whole numbers >= 8.
std::int64_t mobilenet_count(double alpha, std::int64_t in_c,
                             std::int64_t classes) {
  const std::int64_t widths[] = {64,  128, 128, 256, 256,  512, 512,
                                 512, 512, 512, 512, 1024, 1024};
  auto c = [alpha](std::int64_t w) {
    return static_cast<std::int64_t>(w * alpha);
  };
  std::int64_t in = c(32);
  std::int64_t total = in_c * in * 9 + 2 * in;
  for (std::int64_t w : widths) {
    // depthwise 3x3 + BN, pointwise 1x1 + BN
    total += in * 9 + 2 * in + in * c(w) + 2 * c(w);
    in = c(w);
  }
  return total + in * classes + classes;
}

TEST(ModelCount, ClosedFormsReproduceThePublishedFigures) {
  // Guards the closed forms themselves before they judge the plugins.
  EXPECT_EQ(wrn_count(28, 10, 3, 10), 36479194);
  EXPECT_EQ(mobilenet_count(1.0, 3, 1000), 4231976);
}

// --- Parameter counts and maskable layers ---------------------------------

using Shape = std::vector<std::int64_t>;

/// `plugin` with `settings` on `context` has `parameters` parameters and
/// `maskable` maskable weights, the first the stem convolution `first`
/// and the last the classifier `last`, both of the shapes given.
void expect_count(const std::string& plugin, const std::string& settings,
                  const ModelContext& context, std::int64_t parameters,
                  std::size_t maskable, const std::string& first,
                  const Shape& first_shape, const std::string& last,
                  const Shape& last_shape) {
  SCOPED_TRACE(plugin + " " + settings + " " + context_text(context));
  auto model = build(plugin, settings, context);
  EXPECT_EQ(parameter_count(*model), parameters);
  const auto weights = maskable_parameters(*model);
  ASSERT_EQ(weights.size(), maskable);
  EXPECT_EQ(weights.front().name, first);
  EXPECT_EQ(weights.front().weight.sizes().vec(), first_shape);
  EXPECT_EQ(weights.back().name, last);
  EXPECT_EQ(weights.back().weight.sizes().vec(), last_shape);
}

// Maskable layers: ResNet-18 = stem + 8 blocks x 2 + 3 projections + fc;
// ResNet-34 = 1 + 16 x 2 + 3 + 1; ResNet-50 = 1 + 16 x 3 + 4 + 1 (the
// first stage projects 64 -> 256 too).
TEST(ModelCount, CifarResNet) {
  expect_count("cifar_resnet", "depth = 18", kCifar10, 11173962, 21,
               "conv1.weight", {64, 3, 3, 3}, "fc.weight", {10, 512});
  expect_count("cifar_resnet", "depth = 34", kCifar10, 21282122, 37,
               "conv1.weight", {64, 3, 3, 3}, "fc.weight", {10, 512});
  expect_count("cifar_resnet", "", kCifar10, 23520842, 54, "conv1.weight",
               {64, 3, 3, 3}, "fc.weight", {10, 2048});
  // 100 classes: fc grows from 512 x 10 + 10 to 512 x 100 + 100.
  expect_count("cifar_resnet", "depth = 18", ModelContext{{3, 32, 32}, 100},
               11173962 - 5130 + 51300, 21, "conv1.weight", {64, 3, 3, 3},
               "fc.weight", {100, 512});
  // CigL's CIFAR-100 ResNet-50: fc 2048 x 100 + 100 instead of x 10 + 10.
  expect_count("cifar_resnet", "", ModelContext{{3, 32, 32}, 100},
               23520842 - 20490 + 204900, 54, "conv1.weight", {64, 3, 3, 3},
               "fc.weight", {100, 2048});
}

// Maskable layers: stem + 3n blocks x 2 + 3 projections (2 when k = 1:
// the first stage keeps 16 channels) + fc.
TEST(ModelCount, WideResNet) {
  expect_count("wide_resnet", "depth = 28\nwidth = 10", kCifar10, 36479194, 29,
               "conv1.weight", {16, 3, 3, 3}, "fc.weight", {10, 640});
  expect_count("wide_resnet", "", kCifar10, wrn_count(22, 2, 3, 10), 23,
               "conv1.weight", {16, 3, 3, 3}, "fc.weight", {10, 128});
  expect_count("wide_resnet", "", ModelContext{{3, 32, 32}, 100},
               wrn_count(22, 2, 3, 100), 23, "conv1.weight", {16, 3, 3, 3},
               "fc.weight", {100, 128});
  expect_count("wide_resnet", "depth = 28", kCifar10, wrn_count(28, 2, 3, 10),
               29, "conv1.weight", {16, 3, 3, 3}, "fc.weight", {10, 128});
  expect_count("wide_resnet", "depth = 16\nwidth = 1",
               ModelContext{{1, 28, 28}, 100}, wrn_count(16, 1, 1, 100), 16,
               "conv1.weight", {16, 1, 3, 3}, "fc.weight", {100, 64});
}

// Maskable layers: 13 or 16 convolutions + the classifier.
TEST(ModelCount, Vgg) {
  expect_count("vgg", "depth = 16", kCifar10, 14728266, 14, "features.0.weight",
               {64, 3, 3, 3}, "classifier.weight", {10, 512});
  expect_count("vgg", "", kCifar10, 20040522, 17, "features.0.weight",
               {64, 3, 3, 3}, "classifier.weight", {10, 512});
  // CIFAR-100: the classifier grows from 512 x 10 + 10 to 512 x 100 + 100.
  expect_count("vgg", "", ModelContext{{3, 32, 32}, 100},
               20040522 - 5130 + 51300, 17, "features.0.weight", {64, 3, 3, 3},
               "classifier.weight", {100, 512});
  // One input channel: the first conv loses 2 x 64 x 9 weights.
  expect_count("vgg", "depth = 16", ModelContext{{1, 28, 28}, 10},
               14728266 - 1152, 14, "features.0.weight", {64, 1, 3, 3},
               "classifier.weight", {10, 512});
}

// Maskable layers: stem + 13 x (depthwise + pointwise) + fc.
TEST(ModelCount, MobileNetV1) {
  expect_count("mobilenet_v1", "", kImageNet, 4231976, 28, "conv1.weight",
               {32, 3, 3, 3}, "fc.weight", {1000, 1024});
  expect_count("mobilenet_v1", "width_multiplier = 0.5",
               ModelContext{{1, 224, 224}, 10}, mobilenet_count(0.5, 1, 10), 28,
               "conv1.weight", {16, 1, 3, 3}, "fc.weight", {10, 512});
}

TEST(ModelCount, ResNet50) {
  expect_count("resnet50", "", kImageNet, 25557032, 54, "conv1.weight",
               {64, 3, 7, 7}, "fc.weight", {1000, 2048});
  // One input channel: the stem loses 2 x 64 x 7 x 7 weights.
  expect_count("resnet50", "", ModelContext{{1, 224, 224}, 1000},
               25557032 - 6272, 54, "conv1.weight", {64, 1, 7, 7}, "fc.weight",
               {1000, 2048});
}

// --- Initialisation -------------------------------------------------------

// Kaiming normal with fan_out: std = sqrt(2 / (out_channels * k * k)).
TEST(ModelInit, ConvsAreKaimingFanOutAndBatchNormIsOneZero) {
  torch::manual_seed(1);
  auto model = build("cifar_resnet", "depth = 18", kCifar10);
  auto params = model->named_parameters();
  // layer3.0.conv1: 128 -> 256 channels, 3x3: 294,912 draws.
  const double expected = std::sqrt(2.0 / (256 * 9));
  const double std = params["layer3.0.conv1.weight"].std().item<double>();
  EXPECT_NEAR(std, expected, 0.02 * expected);
  EXPECT_NEAR(params["layer3.0.conv1.weight"].mean().item<double>(), 0.0,
              0.01 * expected);
  EXPECT_TRUE(params["layer3.0.bn1.weight"].eq(1).all().item<bool>());
  EXPECT_TRUE(params["layer3.0.bn1.bias"].eq(0).all().item<bool>());
  // PyTorch's default BatchNorm: momentum 0.1, eps 1e-5.
  auto* bn = model->named_modules()["bn1"]->as<torch::nn::BatchNorm2d>();
  ASSERT_NE(bn, nullptr);
  EXPECT_DOUBLE_EQ(bn->options.momentum().value(), 0.1);
  EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-5);
  // VGG's conv biases (kept as in pytorch-cifar) start at zero.
  auto vgg = build("vgg", "depth = 16", kCifar10);
  EXPECT_TRUE(
      vgg->named_parameters()["features.0.bias"].eq(0).all().item<bool>());
}

// zero_init_residual: the BatchNorm closing each residual branch (bn2 of a
// BasicBlock, bn3 of a Bottleneck) starts with scale 0, so every block
// starts as its shortcut; no other BatchNorm changes.
TEST(ModelInit, ZeroInitResidualZeroesTheLastNormOfEachBranch) {
  for (const auto& [plugin, settings, last] :
       {std::tuple<std::string, std::string, std::string>{
            "cifar_resnet", "depth = 18\nzero_init_residual = true", "bn2"},
        {"cifar_resnet", "depth = 50\nzero_init_residual = true", "bn3"},
        {"resnet50", "zero_init_residual = true", "bn3"}}) {
    auto model =
        build(plugin, settings, plugin == "resnet50" ? kImageNet : kCifar10);
    int zeroed = 0, blocks = 0;
    for (const auto& p : model->named_parameters()) {
      const std::string& name = p.key();
      if (name.find("bn") == std::string::npos ||
          name.substr(name.size() - 7) != ".weight") {
        continue;
      }
      const bool closing =
          name.find("." + last + ".weight") != std::string::npos;
      blocks += closing ? 1 : 0;
      if (closing) {
        EXPECT_EQ(p.value().count_nonzero().item<std::int64_t>(), 0) << name;
        ++zeroed;
      } else {
        EXPECT_TRUE(p.value().eq(1).all().item<bool>()) << name;
      }
    }
    EXPECT_EQ(zeroed, plugin == "cifar_resnet" && last == "bn2" ? 8 : 16)
        << plugin;
    EXPECT_EQ(blocks, zeroed);
  }
  // Off by default (torchvision's default).
  auto plain = build("cifar_resnet", "depth = 18", kCifar10);
  for (const auto& p : plain->named_parameters()) {
    if (p.key().find(".bn2.weight") != std::string::npos) {
      EXPECT_TRUE(p.value().eq(1).all().item<bool>()) << p.key();
    }
  }
}

TEST(ModelDropout, WideResNetDropoutActsOnlyInTraining) {
  auto model =
      build("wide_resnet", "depth = 10\nwidth = 1\ndropout = 0.5", kCifar10);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 32, 32});
  model->eval();
  EXPECT_TRUE(torch::equal(model->forward(x), model->forward(x)));
  model->train();
  EXPECT_FALSE(torch::allclose(model->forward(x), model->forward(x)));
}

// --- Errors ---------------------------------------------------------------

void expect_error(const std::string& plugin, const std::string& settings,
                  const ModelContext& context,
                  const std::vector<std::string>& fragments) {
  const std::string message = error_of(plugin, settings, context);
  for (const auto& f : fragments) {
    EXPECT_NE(message.find(f), std::string::npos)
        << "expected '" << f << "' in: " << message;
  }
}

TEST(ModelErrors, BadParametersNameTheKey) {
  expect_error("cifar_resnet", "depth = 20", kCifar10,
               {"exp.toml:3:", "model.depth", "18, 34, 50", "got 20"});
  expect_error("cifar_resnet", "depth = 101", kCifar10, {"model.depth"});
  expect_error("wide_resnet", "depth = 20", kCifar10,
               {"model.depth", "6n + 4", "got 20"});
  expect_error("wide_resnet", "width = 0", kCifar10, {"model.width"});
  expect_error("wide_resnet", "dropout = 1.0", kCifar10,
               {"model.dropout", "below 1"});
  expect_error("wide_resnet", "dropout = -0.1", kCifar10, {"model.dropout"});
  expect_error("vgg", "depth = 17", kCifar10,
               {"model.depth", "16 or 19", "got 17"});
  expect_error("mobilenet_v1", "width_multiplier = 0", kCifar10,
               {"model.width_multiplier"});
  expect_error("resnet50", "depth = 50", kImageNet,
               {"model.depth", "unknown key"});
}

TEST(ModelErrors, InputsThatAreNotImagesOrTooSmall) {
  for (const char* plugin :
       {"cifar_resnet", "wide_resnet", "vgg", "mobilenet_v1", "resnet50"}) {
    expect_error(plugin, "", ModelContext{{784}, 10},
                 {plugin, "{channels, height, width}", "got {784}"});
    expect_error(plugin, "", ModelContext{{3, 0, 32}, 10},
                 {"{channels, height, width}", "got {3, 0, 32}"});
  }
  // Each stride-2 layer must see at least 2x2 pixels.
  expect_error("vgg", "", ModelContext{{3, 16, 16}, 10},
               {"vgg", "at least 17x17", "got {3, 16, 16}"});
  expect_error("resnet50", "", ModelContext{{3, 224, 16}, 10},
               {"resnet50", "at least 17x17"});
  expect_error("mobilenet_v1", "", ModelContext{{3, 16, 16}, 10},
               {"at least 17x17"});
  expect_error("cifar_resnet", "", ModelContext{{3, 4, 4}, 10},
               {"cifar_resnet", "at least 5x5"});
  expect_error("wide_resnet", "", ModelContext{{3, 2, 2}, 10},
               {"wide_resnet", "at least 3x3"});
}

TEST(ModelDocs, EveryModelAndParameterIsDocumented) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected{
      {"cifar_resnet", {"depth", "zero_init_residual", "num_classes"}},
      {"wide_resnet", {"depth", "width", "dropout"}},
      {"vgg", {"depth"}},
      {"mobilenet_v1", {"width_multiplier"}},
      {"resnet50", {"zero_init_residual"}}};
  for (const auto& [name, params] : expected) {
    const auto* c = test::bundled_registry().find(Kind::model, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_GT(c->spec.doc.size(), 40u) << name;
    ASSERT_EQ(c->spec.params.size(), params.size()) << name;
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(c->spec.params[i].name, params[i]);
      EXPECT_GT(c->spec.params[i].doc.size(), 20u) << name << "." << params[i];
    }
  }
}

}  // namespace
}  // namespace cigl
