// Training throughput on a GPU: images per second and time per step of
// each method against dense, in float32 and bfloat16, on CIFAR-shaped
// synthetic data (the data already on the device, as the trainer keeps
// it). bench/gpu.sh runs it beside bench/gpu_eager.py, the same models
// trained by a plain PyTorch loop, and prints the ratios.
//
//   cigl-bench-gpu [--model cifar_resnet|wide_resnet] [--methods
//   dense,rigl,cigl]
//                  [--precisions fp32,bf16] [--batch 128] [--steps 100]
//                  [--warmup 10] [--device cuda] [--density 0.1]
//                  [--channels-last 0|1]
//
// Each run trains warmup + steps steps of one epoch and times the last
// `steps` (the device synchronised at both ends); with the defaults the
// timed window holds one topology update (step 100), as a run updating
// every 100 steps does. One line per run:
//   RESULT cigl <model> <precision> <method> <images/s> <ms/step>
// then a table with the ratio of each method's step time to dense's.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <torch/cuda.h>

#include "bench_support.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/trainer.hpp"

namespace {

struct Options {
  std::string model = "cifar_resnet";
  std::vector<std::string> methods = {"dense", "rigl", "cigl"};
  std::vector<std::string> precisions = {"fp32", "bf16"};
  std::string device = "cuda";
  int batch = 128, steps = 100, warmup = 10;
  double density = 0.1;
  bool channels_last = false;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::string model_section(const std::string& model) {
  if (model == "cifar_resnet") return "plugin = \"cifar_resnet\"\ndepth = 50\n";
  if (model == "wide_resnet") {
    return "plugin = \"wide_resnet\"\ndepth = 22\nwidth = 2\n";
  }
  return "plugin = \"" + model + "\"\n";
}

void synchronize(const std::string& device) {
  if (device.rfind("cuda", 0) == 0) torch::cuda::synchronize();
}

/// Seconds per step over the timed steps.
double time_steps(cigl::Registry& registry, const Options& o,
                  const std::string& method, const std::string& precision) {
  const int total = o.warmup + o.steps;
  std::string text =
      "[experiment]\ndevice = \"" + o.device + "\"\nprecision = \"" +
      precision +
      "\"\nchannels_last = " + (o.channels_last ? "true" : "false") +
      "\n[training]\nepochs = 1\nbatch_size = " + std::to_string(o.batch) +
      "\nvalidation_fraction = 0.0\n"
      "[data]\nplugin = \"synthetic\"\ninput_shape = [3, 32, 32]\n"
      "num_classes = 10\ntrain_size = " +
      std::to_string(o.batch * total) +
      "\ntest_size = 16\n"
      "[model]\n" +
      model_section(o.model) + "[method]\nplugin = \"" + method + "\"\n";
  // The methods' defaults: topology updates every 100 steps.
  if (method != "dense")
    text += "density = " + std::to_string(o.density) + "\n";
  auto config =
      cigl::ConfigDocument::from_string(text, "gpu-bench").resolve(registry);
  cigl::Trainer trainer(config, registry);
  std::chrono::steady_clock::time_point start;
  double seconds = 0;
  trainer.train_epoch([&](std::int64_t step, std::int64_t) {
    if (step == o.warmup) {
      synchronize(o.device);
      start = std::chrono::steady_clock::now();
    } else if (step == total) {
      synchronize(o.device);
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              start)
                    .count();
    }
  });
  return seconds / o.steps;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") {
      o.model = value;
    } else if (key == "--methods") {
      o.methods = split(value);
    } else if (key == "--precisions") {
      o.precisions = split(value);
    } else if (key == "--device") {
      o.device = value;
    } else if (key == "--batch") {
      o.batch = std::stoi(value);
    } else if (key == "--steps") {
      o.steps = std::stoi(value);
    } else if (key == "--warmup") {
      o.warmup = std::stoi(value);
    } else if (key == "--density") {
      o.density = std::stod(value);
    } else if (key == "--channels-last") {
      o.channels_last = value == "1" || value == "true";
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (o.warmup < 1 || o.steps < 1) {
    std::fprintf(stderr, "--warmup and --steps must be at least 1\n");
    return 2;
  }
  try {
    cigl::Registry registry;
    cigl::bench::load_plugins(registry);
    std::map<std::string, std::map<std::string, double>> seconds;
    for (const auto& precision : o.precisions) {
      for (const auto& method : o.methods) {
        const double s = time_steps(registry, o, method, precision);
        seconds[precision][method] = s;
        std::printf("RESULT cigl %s %s %s %.1f %.3f\n", o.model.c_str(),
                    precision.c_str(), method.c_str(), o.batch / s, 1e3 * s);
        std::fflush(stdout);
      }
    }
    std::printf("\nmodel %s, batch %d, %d timed steps after %d, %s\n",
                o.model.c_str(), o.batch, o.steps, o.warmup, o.device.c_str());
    std::printf("precision  method    ms/step   images/s  time vs dense\n");
    for (const auto& precision : o.precisions) {
      for (const auto& method : o.methods) {
        const double s = seconds[precision][method];
        const auto dense = seconds[precision].find("dense");
        std::printf("%-9s  %-8s %8.2f %10.0f", precision.c_str(),
                    method.c_str(), 1e3 * s, o.batch / s);
        if (dense != seconds[precision].end()) {
          std::printf("  %12.3fx", s / dense->second);
        }
        std::printf("\n");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
