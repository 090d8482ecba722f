// What a checkpoint costs against the training it protects, measured in
// the same run: the median time of one training epoch and of one
// checkpoint.pt (written atomically and fsynced, as cigl-run does).
//
//   build/bin/cigl-bench-checkpoint [--model lenet5|mlp] [--method cigl]
//                                   [--epochs N] [--saves S] [--dir DIR]
//
// The checkpoint goes to DIR (default: the system's temporary folder); put
// it where run folders live to measure that disk.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "cigl/core/checkpoint.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/trainer.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  std::string model = "lenet5", method = "cigl";
  std::string dir = fs::temp_directory_path().string();
  int epochs = 3, saves = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") {
      model = value;
    } else if (key == "--method") {
      method = value;
    } else if (key == "--epochs") {
      epochs = std::stoi(value);
    } else if (key == "--saves") {
      saves = std::stoi(value);
    } else if (key == "--dir") {
      dir = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  try {
    cigl::Registry registry;
    cigl::bench::load_plugins(registry);
    auto doc = cigl::ConfigDocument::from_string(
        "[experiment]\nthreads = 1\n[training]\nepochs = " +
            std::to_string(epochs) + "\n[model]\nplugin = \"" + model +
            "\"\n[method]\nplugin = \"" + method + "\"\n",
        "bench");
    const auto config = doc.resolve(registry);
    cigl::Trainer trainer(config, registry);
    const auto build = cigl::current_build(config, registry);
    const std::string file =
        (fs::path(dir) /
         ("cigl-bench-checkpoint-" + std::to_string(::getpid()) + ".pt"))
            .string();
    std::vector<cigl::EpochRecord> records;
    std::vector<double> epoch_seconds, save_seconds;
    using clock = std::chrono::steady_clock;
    for (int e = 0; e < epochs; ++e) {
      auto start = clock::now();
      records.push_back(trainer.train_epoch());
      epoch_seconds.push_back(
          std::chrono::duration<double>(clock::now() - start).count());
      for (int s = 0; s < saves / epochs + 1; ++s) {
        start = clock::now();
        cigl::save_checkpoint(file, trainer, records, build);
        save_seconds.push_back(
            std::chrono::duration<double>(clock::now() - start).count());
      }
    }
    const auto bytes = fs::file_size(file);
    fs::remove(file);
    const double epoch = cigl::bench::median(epoch_seconds);
    const double save = cigl::bench::median(save_seconds);
    std::printf(
        "%s, %s, Fashion-MNIST, 1 thread: epoch %.3f s (median of %d), "
        "checkpoint %.1f ms (median of %zu, %.2f MB, fsynced) = %.3f%% of an "
        "epoch\n",
        model.c_str(), method.c_str(), epoch, epochs, save * 1e3,
        save_seconds.size(), static_cast<double>(bytes) / 1e6,
        100.0 * save / epoch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
