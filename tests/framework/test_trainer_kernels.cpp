// Training with sparse kernels against dense kernels, same config and
// seed: after two epochs (with topology updates every few steps) the masks
// are equal and the weights agree to float tolerance, for every method on
// an MLP and for static, RigL and CigL on LeNet-5; SNFS, which needs the
// dense gradient at every step, trains bit for bit as with dense kernels;
// and a run resumed from a checkpoint with sparse kernels on continues
// exactly.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/config.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/masking.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

// Small synthetic images: large gaps between the scores RigL ranks, so
// float differences of the summation order cannot flip a choice.
const char* const kBase = R"(
[experiment]
device = "cpu"
threads = 2
[training]
epochs = 2
batch_size = 32
validation_fraction = 0.1
[data]
plugin = "synthetic"
input_shape = [1, 16, 16]
train_size = 400
test_size = 64
[optimizer]
lr = 0.05
)";

ExperimentConfig config(const std::vector<std::string>& overrides) {
  auto doc = ConfigDocument::from_string(kBase, "kernels.toml");
  for (const auto& o : overrides) doc.apply_override(o);
  return doc.resolve(test::bundled_registry());
}

std::vector<std::string> method_overrides(const std::string& method) {
  std::vector<std::string> o = {"method.plugin=" + method,
                                "method.density=0.2"};
  if (method != "static" && method != "snip") {
    o.push_back("method.update_interval=4");
  }
  if (method == "rigl" || method == "set" || method == "snfs" ||
      method == "cigl") {
    o.push_back("method.end=1.0");
  }
  if (method == "cigl") {
    o.push_back("averaging.enabled=true");
    o.push_back("averaging.from=0.5");
  }
  return o;
}

struct Outcome {
  std::vector<torch::Tensor> masks, parameters;
  std::vector<KernelChoice> kernels;
};

Outcome train(std::vector<std::string> overrides, const std::string& kernels) {
  overrides.push_back("training.sparse_kernels=" + kernels);
  Trainer trainer(config(overrides), test::bundled_registry());
  trainer.fit();
  Outcome out;
  out.kernels = trainer.kernels().choices();
  if (const MaskSet* m = trainer.method().mask_set()) {
    for (std::size_t i = 0; i < m->size(); ++i)
      out.masks.push_back(m->mask(i).clone());
  }
  for (const auto& p : trainer.model()->parameters()) {
    out.parameters.push_back(p.detach().clone());
  }
  return out;
}

void expect_same_training(const Outcome& dense, const Outcome& sparse) {
  ASSERT_EQ(dense.masks.size(), sparse.masks.size());
  for (std::size_t i = 0; i < dense.masks.size(); ++i) {
    EXPECT_TRUE(torch::equal(dense.masks[i], sparse.masks[i])) << "mask " << i;
  }
  ASSERT_EQ(dense.parameters.size(), sparse.parameters.size());
  for (std::size_t i = 0; i < dense.parameters.size(); ++i) {
    const double scale =
        std::max(1e-3, dense.parameters[i].abs().max().item<double>());
    EXPECT_LT(
        (dense.parameters[i] - sparse.parameters[i]).abs().max().item<double>(),
        1e-4 * scale)
        << "parameter " << i;
  }
}

class KernelsMlp : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelsMlp, SparseKernelsTrainAsDenseKernels) {
  auto o = method_overrides(GetParam());
  o.push_back("model.plugin=mlp");
  o.push_back("model.hidden=[64, 32]");
  const auto dense = train(o, "off");
  const auto sparse = train(o, "on");
  ASSERT_FALSE(sparse.kernels.empty());
  EXPECT_TRUE(sparse.kernels[0].sparse);
  expect_same_training(dense, sparse);
}

INSTANTIATE_TEST_SUITE_P(Methods, KernelsMlp,
                         ::testing::Values("static", "rigl", "cigl", "set",
                                           "gmp", "snip"));

class KernelsLeNet5 : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelsLeNet5, SparseKernelsTrainAsDenseKernels) {
  auto o = method_overrides(GetParam());
  o.push_back("model.plugin=lenet5");
  const auto dense = train(o, "off");
  const auto sparse = train(o, "on");
  ASSERT_EQ(sparse.kernels.size(), 5u);
  for (const auto& k : sparse.kernels) EXPECT_TRUE(k.sparse) << k.layer;
  expect_same_training(dense, sparse);
}

INSTANTIATE_TEST_SUITE_P(Methods, KernelsLeNet5,
                         ::testing::Values("static", "rigl", "cigl"));

TEST(Kernels, SnfsNeedsDenseGradientsEveryStepSoTrainsBitForBit) {
  auto o = method_overrides("snfs");
  o.push_back("model.plugin=mlp");
  o.push_back("model.hidden=[64, 32]");
  const auto dense = train(o, "off");
  const auto sparse = train(o, "on");
  for (std::size_t i = 0; i < dense.parameters.size(); ++i) {
    EXPECT_TRUE(torch::equal(dense.parameters[i], sparse.parameters[i]));
  }
  for (std::size_t i = 0; i < dense.masks.size(); ++i) {
    EXPECT_TRUE(torch::equal(dense.masks[i], sparse.masks[i]));
  }
}

TEST(Kernels, ResumingWithSparseKernelsContinuesExactly) {
  for (const std::string kernels : {"on", "auto"}) {
    SCOPED_TRACE(kernels);
    auto o = method_overrides("rigl");
    o.push_back("model.plugin=lenet5");
    o.push_back("training.sparse_kernels=" + kernels);
    test::TempDir dir("kernels-resume");
    Trainer straight(config(o), test::bundled_registry());
    straight.fit();

    Trainer first(config(o), test::bundled_registry());
    first.train_epoch();
    first.save_state(dir.file("state.pt"));
    Trainer resumed(config(o), test::bundled_registry());
    resumed.load_state(dir.file("state.pt"));
    for (std::size_t i = 0; i < first.kernels().choices().size(); ++i) {
      EXPECT_EQ(resumed.kernels().choices()[i].sparse,
                first.kernels().choices()[i].sparse);
    }
    resumed.fit();
    if (kernels == "auto") {
      // Timings may differ between the straight run and the first: only
      // the resumed run continues the first exactly.
      Trainer again(config(o), test::bundled_registry());
      again.load_state(dir.file("state.pt"));
      again.fit();
      const auto a = again.model()->parameters();
      const auto b = resumed.model()->parameters();
      for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_TRUE(torch::equal(a[i], b[i]));
      continue;
    }
    const auto a = straight.model()->parameters();
    const auto b = resumed.model()->parameters();
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
    }
  }
}

}  // namespace
}  // namespace cigl
