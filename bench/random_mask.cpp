// The cost of CigL's per-step random mask on the CPU, with the mask applied
// to the weights as CigL does: cigl/random.hpp's dropped draw (a Binomial
// count and distinct positions over each layer's active weights: what
// plugins/methods/cigl runs) against keep_mask() (one uniform draw per
// weight: the synchronisation-free CUDA path). Measured in the same run,
// interleaved.
//
//   cigl-bench-random-mask [--model lenet5|mlp] [--density 0.1]
//                          [--dpnum 100] [--steps 2000] [--repeats 5]
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "cigl/random.hpp"

namespace {

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
  cigl::BernoulliSampler sampler(torch::kCPU, 2);

  // One step's draw and application, two ways.
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
  std::vector<Way> ways = {{"dropped (cigl's draw on CPU)", dropped, {}},
                           {"keep_mask (one draw a weight)", keep_mask, {}}};
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
              "vs dropped");
  const double base = cigl::bench::median(ways[0].seconds);
  for (const auto& w : ways) {
    const double s = cigl::bench::median(w.seconds);
    std::printf("%-30s %12.1f %11.2fx\n", w.name, 1e6 * s, s / base);
  }
  return 0;
}
