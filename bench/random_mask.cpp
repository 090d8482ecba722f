// The cost of CigL's per-step random mask on the CPU: today's draw in
// plugins/methods/cigl (a Binomial count and distinct positions over each
// layer's active weights, on the method's CPU generator) against
// cigl/random.hpp's BernoulliSampler: dropped() (the same algorithm, the
// CPU path) and keep_mask() (one uniform draw per weight: the
// synchronisation-free CUDA path), each with the mask applied to the
// weights as CigL does. Measured in the same run, interleaved.
//
//   cigl-bench-random-mask [--model lenet5|mlp] [--density 0.1]
//                          [--dpnum 100] [--steps 2000] [--repeats 5]
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "cigl/random.hpp"

namespace {

// A copy of plugins/methods/cigl/cigl.cpp's draw (the baseline).
struct Bits {
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  at::CPUGeneratorImpl* impl;
  result_type operator()() { return impl->random64(); }
};

std::vector<std::int64_t> bernoulli_positions(std::int64_t n, double p,
                                              torch::Generator& generator) {
  auto* impl = generator.get<at::CPUGeneratorImpl>();
  std::lock_guard<std::mutex> lock(generator.mutex());
  Bits bits{impl};
  const auto count = std::binomial_distribution<std::int64_t>(n, p)(bits);
  std::vector<std::int64_t> out;
  std::unordered_set<std::int64_t> chosen;
  for (std::int64_t j = n - count; j < n; ++j) {
    auto t = std::uniform_int_distribution<std::int64_t>(0, j)(bits);
    if (!chosen.insert(t).second) {
      chosen.insert(j);
      t = j;
    }
    out.push_back(t);
  }
  return out;
}

struct Layer {
  torch::Tensor weight, mask, active;
};

std::vector<Layer> layers_of(const std::string& model, double density) {
  std::vector<std::vector<std::int64_t>> shapes;
  if (model == "lenet5") {
    shapes = {{6, 1, 5, 5}, {16, 6, 5, 5}, {120, 256}, {84, 120}, {10, 84}};
  } else {
    shapes = {{300, 784}, {100, 300}, {10, 100}};
  }
  std::vector<Layer> out;
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  for (const auto& shape : shapes) {
    Layer l;
    l.weight = torch::randn(shape, g);
    l.mask = torch::rand(shape, g) < density;
    l.weight.mul_(l.mask);
    l.active = l.mask.reshape(-1).nonzero().squeeze(1);
    out.push_back(l);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "lenet5";
  double density = 0.1, dpnum = 100;
  int steps = 2000, repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") {
      model = value;
    } else if (key == "--density") {
      density = std::stod(value);
    } else if (key == "--dpnum") {
      dpnum = std::stod(value);
    } else if (key == "--steps") {
      steps = std::stoi(value);
    } else if (key == "--repeats") {
      repeats = std::stoi(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  torch::NoGradGuard no_grad;
  auto layers = layers_of(model, density);
  const double p = 1.0 / dpnum, scale = dpnum / (dpnum - 1);
  auto today_generator = at::make_generator<at::CPUGeneratorImpl>(2);
  cigl::BernoulliSampler sampler(torch::kCPU, 2);

  // One step's draw and application, three ways.
  auto today = [&] {
    for (auto& l : layers) {
      auto positions =
          bernoulli_positions(l.active.numel(), p, today_generator);
      auto dropped = l.active.index_select(
          0, torch::tensor(positions, torch::kLong).to(l.weight.device()));
      l.weight.mul_(scale);
      l.weight.view(-1).index_fill_(0, dropped, 0);
    }
  };
  auto dropped = [&] {
    for (auto& l : layers) {
      auto d = sampler.dropped(l.active, p);
      l.weight.mul_(scale);
      l.weight.view(-1).index_fill_(0, d, 0);
    }
  };
  auto keep_mask = [&] {
    for (auto& l : layers) {
      auto keep = sampler.keep_mask(l.mask, 1 - p);
      l.weight.mul_(keep.view(torch::kUInt8)).mul_(scale);
    }
  };
  struct Way {
    const char* name;
    std::function<void()> step;
    std::vector<double> seconds;
  };
  std::vector<Way> ways = {{"today (cigl.cpp, CPU draw)", today, {}},
                           {"BernoulliSampler::dropped", dropped, {}},
                           {"BernoulliSampler::keep_mask", keep_mask, {}}};
  for (int r = 0; r < repeats; ++r) {
    for (auto& w : ways) {
      const auto start = std::chrono::steady_clock::now();
      for (int s = 0; s < steps; ++s) w.step();
      w.seconds.push_back(std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count() /
                          steps);
    }
  }
  std::int64_t active = 0;
  for (const auto& l : layers) active += l.active.numel();
  std::printf(
      "model %s, density %.2f (%lld active weights), drop 1/%.0f, median of "
      "%d x %d steps, %d threads\n",
      model.c_str(), density, static_cast<long long>(active), dpnum, repeats,
      steps, torch::get_num_threads());
  std::printf("%-30s %12s %12s\n", "per-step random mask", "us/step",
              "vs today");
  const double base = cigl::bench::median(ways[0].seconds);
  for (const auto& w : ways) {
    const double s = cigl::bench::median(w.seconds);
    std::printf("%-30s %12.1f %11.2fx\n", w.name, 1e6 * s, s / base);
  }
  return 0;
}
