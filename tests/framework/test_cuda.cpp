// Training on a CUDA device (label `cuda`; every test skips without a GPU):
// masks stay exact zeros, CPU and CUDA train the same model within
// float32 tolerance, a resumed CUDA run continues where it stopped, the
// device-side Bernoulli sampler draws as on the CPU, and the step does no
// host synchronisation (counted with CUDA's sync debug mode).
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/torch.h>
#include <torch/version.h>

#if CIGL_TEST_CUDA_HEADERS
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "cigl/core/config.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/masking.hpp"
#include "cigl/random.hpp"
#include "resume_support.hpp"
#include "test_support.hpp"

namespace cigl {
namespace {

#define CIGL_REQUIRE_GPU()                                               \
  if (!torch::cuda::is_available()) {                                    \
    GTEST_SKIP() << "no CUDA device (this LibTorch: " TORCH_VERSION ")"; \
  }

const std::vector<std::string> kMethods = {"dense", "static", "set",  "snfs",
                                           "rigl",  "cigl",   "snip", "gmp"};

// LeNet-5 on 64 synthetic 16x16 images, one batch per epoch: the batch
// order cannot differ between devices, and each epoch is one step.
std::string config_text(const std::string& device, const std::string& method,
                        int epochs, const std::string& extra = "") {
  std::string text = "[experiment]\nthreads = 2\ndevice = \"" + device +
                     "\"\n" + extra +
                     "\n[training]\nepochs = " + std::to_string(epochs) +
                     "\nbatch_size = 64\nvalidation_fraction = 0.0\n"
                     "[optimizer]\nlr = 0.02\n"
                     "[data]\nplugin = \"synthetic\"\ninput_shape = [1, 16, "
                     "16]\ntrain_size = 64\ntest_size = 64\n"
                     "[model]\nplugin = \"lenet5\"\n"
                     "[method]\nplugin = \"" +
                     method + "\"\n";
  if (method != "dense") text += "density = 0.3\n";
  // Topology updates at steps 2 and 4 within the 6 steps.
  if (method == "set" || method == "snfs" || method == "rigl" ||
      method == "cigl") {
    text += "update_interval = 2\nend = 1.0\n";
  }
  return text;
}

ExperimentConfig resolve(const std::string& text) {
  return ConfigDocument::from_string(text, "cuda.toml")
      .resolve(test::bundled_registry());
}

void expect_exact_zeros(const Trainer& trainer, const std::string& what) {
  const MaskSet* masks = trainer.method().mask_set();
  if (!masks) return;
  for (std::size_t i = 0; i < masks->size(); ++i) {
    const auto& w = masks->weight(i);
    EXPECT_EQ(w.masked_select(masks->mask(i).logical_not())
                  .abs()
                  .sum()
                  .item<double>(),
              0.0)
        << what << " " << masks->name(i);
  }
}

/// Exact float32 arithmetic on the GPU for comparisons with the CPU.
struct NoTf32 {
  NoTf32() {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }
};

TEST(Cuda, MasksStayExactZerosInFloat32AndBfloat16) {
  CIGL_REQUIRE_GPU();
  for (const auto& method : kMethods) {
    for (const char* precision : {"fp32", "bf16"}) {
      Trainer trainer(resolve(config_text(
                          "cuda", method, 6,
                          "precision = \"" + std::string(precision) + "\"")),
                      test::bundled_registry());
      EXPECT_EQ(trainer.device_name(), "cuda:0");
      trainer.fit();
      expect_exact_zeros(trainer, method + " " + precision);
      for (const auto& p : trainer.model()->parameters()) {
        EXPECT_EQ(p.scalar_type(), torch::kFloat) << method;
        EXPECT_TRUE(p.is_cuda()) << method;
      }
    }
  }
}

TEST(Cuda, CpuAndCudaTrainTheSameModel) {
  CIGL_REQUIRE_GPU();
  NoTf32 exact;
  for (const auto& method : kMethods) {
    Trainer cpu(resolve(config_text("cpu", method, 6)),
                test::bundled_registry());
    Trainer gpu(resolve(config_text("cuda", method, 6)),
                test::bundled_registry());
    cpu.fit();
    gpu.fit();
    // Masks: the same connections (near-ties in a top-k may differ).
    if (const MaskSet* a = cpu.method().mask_set()) {
      const MaskSet* b = gpu.method().mask_set();
      ASSERT_NE(b, nullptr);
      for (std::size_t i = 0; i < a->size(); ++i) {
        const double differ =
            a->mask(i).ne(b->mask(i).cpu()).sum().item<double>() /
            static_cast<double>(a->mask(i).numel());
        EXPECT_LE(differ, 0.002) << method << " " << a->name(i);
      }
    }
    auto pa = cpu.model()->named_parameters();
    auto pb = gpu.model()->named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
      const auto x = pa[i].value();
      const auto y = pb[i].value().cpu();
      // Compare where both keep the weight: elsewhere a near-tie may
      // have grown a different connection.
      auto both =
          x.ne(0).logical_and(y.ne(0)).logical_or(x.eq(0).logical_and(y.eq(0)));
      const double worst =
          (x - y).abs().masked_select(both).max().item<double>();
      EXPECT_LE(worst, 2e-4) << method << " " << pa[i].key();
    }
    const auto mcpu = cpu.test();
    const auto mgpu = gpu.test();
    for (std::size_t i = 0; i < mcpu.size(); ++i) {
      if (std::isnan(mcpu[i].second)) continue;
      EXPECT_NEAR(mgpu[i].second, mcpu[i].second, 0.02)
          << method << " " << mcpu[i].first;
    }
  }
}

TEST(Cuda, AResumedRunContinuesWhereItStopped) {
  CIGL_REQUIRE_GPU();
  NoTf32 exact;
  for (const char* method : {"rigl", "cigl"}) {
    const std::string text =
        config_text("cuda", method, 6, "precision = \"bf16\"");
    Trainer whole(resolve(text), test::bundled_registry());
    whole.fit();

    Trainer first(resolve(text), test::bundled_registry());
    first.train_epoch();
    first.train_epoch();
    first.train_epoch();
    auto resumed = test::resumed_from(first, resolve(text));
    EXPECT_EQ(resumed->step(), 3);
    resumed->fit();
    EXPECT_EQ(resumed->step(), whole.step());
    auto a = whole.model()->named_parameters();
    auto b = resumed->model()->named_parameters();
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i].value(), b[i].value(), 1e-4, 1e-6))
          << method << " " << a[i].key();
    }
    const MaskSet* ma = whole.method().mask_set();
    const MaskSet* mb = resumed->method().mask_set();
    for (std::size_t i = 0; i < ma->size(); ++i) {
      EXPECT_TRUE(torch::equal(ma->mask(i), mb->mask(i))) << method;
    }
    expect_exact_zeros(*resumed, method);
  }
}

TEST(Cuda, BernoulliSamplerDrawsOnTheDevice) {
  CIGL_REQUIRE_GPU();
  const torch::Device cuda(torch::kCUDA, 0);
  auto mask = (torch::arange(300000, torch::TensorOptions(cuda)) % 3 == 0);
  BernoulliSampler a(cuda, 5), b(cuda, 5);
  auto state = a.get_state();
  auto kept = a.keep_mask(mask, 0.9);
  EXPECT_TRUE(kept.is_cuda());
  EXPECT_EQ(kept.logical_and(mask.logical_not()).sum().item<std::int64_t>(), 0);
  const double n = 100000, p = 0.9;
  EXPECT_LE(std::abs(kept.sum().item<double>() - n * p),
            6 * std::sqrt(n * p * (1 - p)));
  EXPECT_TRUE(torch::equal(b.keep_mask(mask, 0.9), kept));  // same seed
  a.set_state(state);
  EXPECT_TRUE(torch::equal(a.keep_mask(mask, 0.9), kept));  // restored
  auto candidates = torch::arange(0, 200000, 2, torch::TensorOptions(cuda));
  auto dropped = a.dropped(candidates, 0.01);
  EXPECT_TRUE(dropped.is_cuda());
  EXPECT_EQ(dropped.remainder(2).sum().item<std::int64_t>(), 0);
  EXPECT_LE(std::abs(static_cast<double>(dropped.numel()) - 1000), 6 * 31.5);
}

#if CIGL_TEST_CUDA_HEADERS
/// Counts "synchronizing CUDA operation" warnings while alive.
class SyncCounter : public c10::WarningHandler {
 public:
  SyncCounter() : guard_(this) {
    c10::cuda::warning_state().set_sync_debug_mode(
        c10::cuda::SyncDebugMode::L_WARN);
  }
  ~SyncCounter() override {
    c10::cuda::warning_state().set_sync_debug_mode(
        c10::cuda::SyncDebugMode::L_DISABLED);
  }
  void process(const c10::Warning& warning) override {
    if (warning.msg().find("synchroniz") != std::string::npos) ++count;
  }
  int count = 0;

 private:
  c10::WarningUtils::WarningHandlerGuard guard_;
};

// Counts host synchronisations over the middle steps of an epoch (the
// first steps may initialise; the epoch's end reads the loss once). A
// periodic check (e.g. every 10 steps) fits in the allowance; a per-step
// .item() or host-to-device copy does not.
int syncs_in_steps(const std::string& method,
                   const std::string& method_extra = "") {
  // 40 steps of 32 examples; no topology update inside (those may read
  // the device: they are allowed to).
  std::string text =
      "[experiment]\ndevice = \"cuda\"\n[training]\nepochs = 1\n"
      "batch_size = 32\nvalidation_fraction = 0.0\n"
      "[data]\nplugin = \"synthetic\"\ninput_shape = [3, 32, 32]\n"
      "train_size = 1280\ntest_size = 32\ncrop_padding = 4\n"
      "horizontal_flip = true\n"
      "[model]\nplugin = \"lenet5\"\n[method]\nplugin = \"" +
      method + "\"\n";
  if (method != "dense") text += "density = 0.3\n";
  if (method == "set" || method == "snfs" || method == "rigl" ||
      method == "cigl") {
    text += "update_interval = 1000\n";
  }
  text += method_extra;
  Trainer trainer(resolve(text), test::bundled_registry());
  std::unique_ptr<SyncCounter> counter;
  int counted = 0;
  trainer.train_epoch([&](std::int64_t step, std::int64_t) {
    if (step == 5) counter = std::make_unique<SyncCounter>();
    if (step == 35) {
      counted = counter->count;
      counter.reset();
    }
  });
  return counted;
}

TEST(Cuda, TheTrainingStepDoesNotSynchroniseWithTheHost) {
  CIGL_REQUIRE_GPU();
  // 30 steps counted: at most one periodic check per 10 steps.
  for (const char* method :
       {"dense", "static", "set", "snfs", "rigl", "snip"}) {
    EXPECT_LE(syncs_in_steps(method), 3) << method;
  }
}

// CigL draws its per-step mask on the device on CUDA (random_mask_draw =
// "auto"): bool masks from a BernoulliSampler, applied with where and
// masked_fill. Both variants.
TEST(Cuda, TheCiglStepDoesNotSynchroniseWithTheHost) {
  CIGL_REQUIRE_GPU();
  EXPECT_LE(syncs_in_steps("cigl"), 3);
  EXPECT_LE(syncs_in_steps("cigl", "variant = \"restored\"\n"), 3);
}

TEST(Cuda, TheSyncCounterSeesAnItemCall) {
  CIGL_REQUIRE_GPU();
  // The counter itself: what a per-step .item() would add.
  auto t = torch::ones({4}, torch::TensorOptions(torch::kCUDA));
  SyncCounter counter;
  for (int i = 0; i < 3; ++i) (void)t.sum().item<float>();
  (void)torch::ones({4}).to(torch::kCUDA);  // a host-to-device copy
  EXPECT_GE(counter.count, 4);
}
#else
TEST(Cuda, TheTrainingStepDoesNotSynchroniseWithTheHost) {
  CIGL_REQUIRE_GPU();
  GTEST_SKIP() << "built without the CUDA headers (c10/cuda): the sync "
                  "counter needs a CUDA LibTorch and the CUDA toolkit";
}
#endif

}  // namespace
}  // namespace cigl
