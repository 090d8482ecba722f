// Training throughput of each sparse method relative to `dense`, on the
// same model and data, measured in the same run.
//
//   build/bin/cigl-bench-overhead [--model mlp|lenet5] [--epochs N]
//                                 [--repeats R] [--density D]
//
// Each measurement trains one full epoch of Fashion-MNIST (no validation),
// so topology updates (every 100 steps) are amortized as in a real run.
// Methods are interleaved and repeated; the median epoch time is reported
// as images per second and as a ratio of time per step to dense, and to
// `static` (a fixed mask at the same density: what the method adds beyond
// training a sparse model at all). `cigl` is the official code path (the
// default), `cigl-r` the "restored" variant.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Context.h>

#include "bench_support.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/trainer.hpp"

namespace {

struct Options {
  std::string model = "lenet5";
  int repeats = 3;
  double density = 0.1;
  int threads = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model"))
      o.model = argv[i + 1];
    else if (!std::strcmp(argv[i], "--repeats"))
      o.repeats = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--density"))
      o.density = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      o.threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--flush-denormal")) {
      at::globalContext().setFlushDenormal(std::atoi(argv[i + 1]) != 0);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  try {
    cigl::Registry registry;
    cigl::bench::load_plugins(registry);

    // A label, and the [method] lines: the plugin, then its options.
    const std::vector<std::pair<std::string, std::string>> methods = {
        {"dense", "dense"},
        {"static", "static"},
        {"set", "set"},
        {"snfs", "snfs"},
        {"rigl", "rigl"},
        {"cigl", "cigl"},
        {"cigl-r", "cigl\"\nvariant = \"restored"},
        {"snip", "snip"},
        {"gmp", "gmp"}};
    std::vector<std::vector<double>> seconds(methods.size());
    std::int64_t images = 0, steps = 0;
    for (int r = 0; r < o.repeats; ++r) {
      for (std::size_t m = 0; m < methods.size(); ++m) {
        auto doc = cigl::ConfigDocument::from_string(
            "[experiment]\ndevice = \"cpu\"\nthreads = " +
                std::to_string(o.threads) +
                "\n[training]\nepochs = 1\nvalidation_fraction = 0.0\n"
                "[model]\nplugin = \"" +
                o.model + "\"\n[method]\nplugin = \"" + methods[m].second +
                "\"\n" +
                (methods[m].first == "dense"
                     ? ""
                     : "density = " + std::to_string(o.density) + "\n"),
            "bench");
        // GMP prunes over the first 75% of a run: measure it over its
        // pruning phase, where it does its work.
        cigl::Trainer trainer(doc.resolve(registry), registry);
        const auto start = std::chrono::steady_clock::now();
        trainer.train_epoch();
        seconds[m].push_back(std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count());
        images = trainer.train_split().size();
        steps = trainer.step();
      }
    }
    std::printf(
        "model %s, density %.2f, %lld images (%lld steps) per epoch, "
        "median of %d\n",
        o.model.c_str(), o.density, static_cast<long long>(images),
        static_cast<long long>(steps), o.repeats);
    std::printf("%-8s %10s %10s %14s %15s\n", "method", "epoch s", "images/s",
                "time vs dense", "time vs static");
    const double dense = cigl::bench::median(seconds[0]);
    const double fixed = cigl::bench::median(seconds[1]);
    for (std::size_t m = 0; m < methods.size(); ++m) {
      const double s = cigl::bench::median(seconds[m]);
      std::printf("%-8s %10.3f %10.0f %13.3fx %14.3fx\n",
                  methods[m].first.c_str(), s, static_cast<double>(images) / s,
                  s / dense, s / fixed);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
