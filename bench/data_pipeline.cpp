// Does the batch-wise augmentation keep up with training? Trains one epoch
// of CIFAR-shaped synthetic data with and without random crop (padding 4)
// and horizontal flip, interleaved and repeated, and reports the median
// epoch time of each and their ratio, plus the augmentation alone per
// batch against a whole training step.
//
//   build/bin/cigl-bench-data [--model lenet5|wide_resnet|...] [--repeats R]
//                             [--examples N] [--threads T]
//
// A small model is the hard case: the data path is a larger share of a
// step. The data are in memory; batches are gathered and augmented on the
// training device, as in every run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "cigl/augment.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/trainer.hpp"
#include "cigl/error.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "lenet5";
  int repeats = 3, threads = 0;
  long examples = 8192;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model")) {
      model = argv[i + 1];
    } else if (!std::strcmp(argv[i], "--repeats")) {
      repeats = std::atoi(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--examples")) {
      examples = std::atol(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--threads")) {
      threads = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  try {
    cigl::Registry registry;
    cigl::bench::load_plugins(registry);

    const char* variants[] = {"crop_padding = 0\nhorizontal_flip = false\n",
                              "crop_padding = 4\nhorizontal_flip = true\n"};
    std::vector<double> epoch[2];
    std::int64_t steps = 0;
    for (int r = 0; r < repeats; ++r) {
      for (int v = 0; v < 2; ++v) {
        auto doc = cigl::ConfigDocument::from_string(
            "[experiment]\ndevice = \"cpu\"\nthreads = " +
                std::to_string(threads) +
                "\n[training]\nepochs = 1\nbatch_size = 128\n"
                "validation_fraction = 0.0\n"
                "[data]\nplugin = \"synthetic\"\ntrain_size = " +
                std::to_string(examples) + "\ntest_size = 128\n" + variants[v] +
                "[model]\nplugin = \"" + model + "\"\n",
            "bench");
        cigl::Trainer trainer(doc.resolve(registry), registry);
        const auto start = std::chrono::steady_clock::now();
        trainer.train_epoch();
        epoch[v].push_back(seconds_since(start));
        steps = trainer.step();
      }
    }

    // The augmentation alone, on the batches a step sees.
    auto batch = torch::randn({128, 3, 32, 32});
    auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
    cigl::Augmentation augmentation;
    augmentation.crop_padding = 4;
    augmentation.horizontal_flip = true;
    std::vector<double> per_batch;
    for (int r = 0; r < 5; ++r) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 100; ++i) augmentation.apply(batch, generator);
      per_batch.push_back(seconds_since(start) / 100);
    }

    const double plain = cigl::bench::median(epoch[0]),
                 augmented = cigl::bench::median(epoch[1]);
    const double step = augmented / static_cast<double>(steps);
    std::printf(
        "model %s, %ld examples of 3x32x32 (%lld steps of 128), "
        "median of %d\n",
        model.c_str(), examples, static_cast<long long>(steps), repeats);
    std::printf("%-22s %9s %10s %9s\n", "", "epoch s", "images/s", "ratio");
    std::printf("%-22s %9.3f %10.0f %8.3fx\n", "no augmentation", plain,
                static_cast<double>(examples) / plain, 1.0);
    std::printf("%-22s %9.3f %10.0f %8.3fx\n", "crop 4 + flip", augmented,
                static_cast<double>(examples) / augmented, augmented / plain);
    std::printf(
        "augmentation alone: %.3f ms per batch of 128, %.2f%% of a "
        "training step (%.1f ms)\n",
        1e3 * cigl::bench::median(per_batch),
        100 * cigl::bench::median(per_batch) / step, 1e3 * step);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
