// The selection of a topology update: cigl's smallest_among/largest_among
// (framework/src/top_k.cpp, a radix select) against what they replaced,
// LibTorch's topk over the whole layer with the entries outside the
// subset filled with +-inf. Per layer shape, at the density and drop
// fraction given: the drop (smallest |w| among the active entries) and
// the growth (largest |g| among the inactive ones), interleaved, on the
// threads LibTorch has.
//
//   cigl-bench-top-k [--density 0.05] [--fraction 0.3] [--repeats 9]
//                    [--threads T (default: every core)]
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "cigl/sparse.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

/// What the update did before: topk over the layer, outsiders filled.
torch::Tensor topk_among(const torch::Tensor& scores,
                         const torch::Tensor& among, std::int64_t k,
                         bool largest) {
  const double fill = largest ? -std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::infinity();
  auto masked = scores.reshape(-1)
                    .to(torch::kDouble)
                    .masked_fill(among.reshape(-1).logical_not(), fill);
  return std::get<1>(masked.topk(k, 0, largest, /*sorted=*/false));
}

double milliseconds(const std::function<void()>& f) {
  const auto start = clock_type::now();
  f();
  return std::chrono::duration<double, std::milli>(clock_type::now() - start)
      .count();
}

}  // namespace

static int run(int argc, char** argv) {
  double density = 0.05, fraction = 0.3;
  int repeats = 9;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--density") {
      density = std::stod(value);
    } else if (key == "--fraction") {
      fraction = std::stod(value);
    } else if (key == "--repeats") {
      repeats = std::stoi(value);
    } else if (key == "--threads") {
      threads = std::stoi(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  struct Shape {
    const char* name;
    std::int64_t rows, cols;
  };
  const Shape shapes[] = {{"lenet300 fc1 784->300", 300, 784},
                          {"wide fc2 1024->1024", 1024, 1024},
                          {"resnet50 conv 512x512x3x3", 512, 4608}};
  if (threads > 0) torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  std::printf(
      "one update's selection per layer: density %.2f, k = %.2f of the "
      "active entries, median of %d, %d threads;\nLibTorch's topk over "
      "the layer (outsiders filled with +-inf) against cigl's "
      "smallest_among / largest_among\n",
      density, fraction, repeats, torch::get_num_threads());
  std::printf("%-28s %9s | %9s %9s %7s | %9s %9s %7s\n", "layer", "weights",
              "drop topk", "cigl", "x", "grow topk", "cigl", "x");
  auto g = at::make_generator<at::CPUGeneratorImpl>(7);
  for (const auto& s : shapes) {
    const auto weight = torch::randn({s.rows, s.cols}, g).abs();
    const auto gradient = torch::randn({s.rows, s.cols}, g).abs();
    const auto active = torch::rand({s.rows, s.cols}, g) < density;
    const auto inactive = active.logical_not();
    const auto k = static_cast<std::int64_t>(
        fraction * static_cast<double>(active.sum().item<std::int64_t>()));
    std::vector<double> t[4];
    for (int r = 0; r < repeats; ++r) {
      t[0].push_back(
          milliseconds([&] { topk_among(weight, active, k, false); }));
      t[1].push_back(
          milliseconds([&] { cigl::smallest_among(weight, active, k); }));
      t[2].push_back(
          milliseconds([&] { topk_among(gradient, inactive, k, true); }));
      t[3].push_back(
          milliseconds([&] { cigl::largest_among(gradient, inactive, k); }));
    }
    double m[4];
    for (int j = 0; j < 4; ++j) m[j] = cigl::bench::median(t[j]);
    std::printf("%-28s %9lld | %9.2f %9.2f %6.1fx | %9.2f %9.2f %6.1fx\n",
                s.name, static_cast<long long>(s.rows) * s.cols, m[0], m[1],
                m[0] / m[1], m[2], m[3], m[2] / m[3]);
    std::fflush(stdout);
  }
  std::printf("(milliseconds; x = topk / cigl)\n");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cigl-bench-top-k: %s\n", e.what());
    return 1;
  }
}
