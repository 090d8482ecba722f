// The sparse kernels against LibTorch's dense kernels, measured in the
// same run, with the FLOPs ratio beside each speed-up as its limit.
//
//   build/bin/cigl-bench-sparse [--part layers|epochs|both] [--repeats R]
//                               [--threads T] [--densities 0.2,0.1,...]
//                               [--models lenet300,wide,lenet5]
//                               [--method rigl|static|...] [--settle MS]
//
// Layers: per layer shape (batch 128) and density, the forward pass, the
// input gradient, the weight gradient and the SGD step, each timed alone
// (median of R runs), dense (the masked weight, LibTorch) against sparse.
// Epochs: one full Fashion-MNIST epoch (60,000 images, 469 steps of 128)
// of RigL (or --method; ERK, update every 100 steps) with
// training.sparse_kernels off, on and auto, back to back (each after
// --settle ms idle, 200 by default: see settle_ms), repeated; the median
// epoch time, the median (and range) of the repeats' speed-ups off/on and
// off/auto, the training-FLOPs limit (dense training FLOPs over RigL's, from
// cigl's own count, dense-gradient steps included), and the test accuracy after
// the epoch.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "bench_support.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/costs.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/registry.hpp"
#include "cigl/core/sparse_ops.hpp"
#include "cigl/core/trainer.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start)
      .count();
}

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) {
    out.push_back(std::stod(item));
  }
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) out.push_back(item);
  return out;
}

std::string first_line(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "?";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

struct Layer {
  const char* name;
  bool conv;
  std::int64_t in, out, kernel, size, padding;  // conv: channels, k, HxW
};

/// Median milliseconds of `repeats` runs of `part` (each after `setup`).
template <class Setup, class Part>
double time_part(int repeats, Setup setup, Part part) {
  std::vector<double> t;
  for (int r = 0; r < repeats + 1; ++r) {
    auto state = setup();
    const auto start = clock_type::now();
    part(state);
    if (r > 0) t.push_back(ms_since(start));  // the first warms up
  }
  return cigl::bench::median(t);
}

/// Median milliseconds of one optimizer step on this weight (SGD with the
/// sgd plugin's defaults, as the epochs below train: momentum 0.9,
/// Nesterov, weight decay 5e-4; after a first step): LibTorch's over the
/// dense tensor,
/// and masked_sgd_step at the active entries with the gradient's values in
/// entry order, as the trainer's sparse path runs it.
std::pair<double, double> time_sgd(const cigl::kernels::CompressedMask& mask,
                                   const torch::Tensor& weight,
                                   const torch::Tensor& dense_mask,
                                   at::Generator& gen, int repeats) {
  torch::NoGradGuard no_grad;
  const auto grad = torch::randn(weight.sizes(), gen).mul_(dense_mask);
  auto parameter = weight.clone().requires_grad_();
  parameter.mutable_grad() = grad.clone();
  torch::optim::SGD sgd(
      {parameter},
      torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(
          5e-4));
  sgd.step();
  const double dense = time_part(
      repeats, [] { return 0; }, [&](int) { sgd.step(); });

  auto w = weight.clone();
  auto buffer = torch::zeros_like(w);
  auto grad_values = torch::empty({mask.nnz()});
  auto weight_values = torch::empty({mask.nnz()});
  mask.gather(grad.data_ptr<float>(), grad_values.data_ptr<float>());
  cigl::kernels::SgdOptions options;
  options.lr = 0.05;
  options.momentum = 0.9;
  options.nesterov = true;
  options.weight_decay = 5e-4;
  bool first = true;
  const double sparse = time_part(
      repeats, [] { return 0; },
      [&](int) {
        cigl::kernels::masked_sgd_step(mask, w, grad, grad_values, buffer,
                                       first, options, weight_values);
        first = false;
      });
  return {dense, sparse};
}

void bench_layers(const std::vector<double>& densities, int repeats) {
  const std::int64_t batch = 128;
  const Layer layers[] = {
      {"lenet300 fc1 784->300", false, 784, 300, 0, 0, 0},
      {"lenet300 fc2 300->100", false, 300, 100, 0, 0, 0},
      {"wide fc1 784->1024", false, 784, 1024, 0, 0, 0},
      {"wide fc2 1024->1024", false, 1024, 1024, 0, 0, 0},
      {"lenet5 conv1 1->6 5x5 28x28", true, 1, 6, 5, 28, 2},
      {"lenet5 conv2 6->16 5x5 14x14", true, 6, 16, 5, 14, 0},
      {"lenet5 fc1 400->120", false, 400, 120, 0, 0, 0},
  };
  std::printf(
      "\nper layer, batch %lld: dense LibTorch ms / sparse ms = speed-up; "
      "limit = 1 / density\n",
      static_cast<long long>(batch));
  std::printf(
      "%-30s %7s | %8s %8s %7s | %8s %8s %7s | %8s %8s %7s | %8s %8s %7s | "
      "%6s\n",
      "layer", "density", "fwd ms", "sparse", "x", "dx ms", "sparse", "x",
      "dW ms", "sparse", "x", "SGD ms", "sparse", "x", "limit");
  for (const auto& l : layers) {
    for (double d : densities) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
      const std::vector<std::int64_t> wshape =
          l.conv ? std::vector<std::int64_t>{l.out, l.in, l.kernel, l.kernel}
                 : std::vector<std::int64_t>{l.out, l.in};
      const std::vector<std::int64_t> xshape =
          l.conv ? std::vector<std::int64_t>{batch, l.in, l.size, l.size}
                 : std::vector<std::int64_t>{batch, l.in};
      const auto mask = torch::rand(wshape, gen) < d;
      const auto weight = torch::randn(wshape, gen).mul_(0.05).mul_(mask);
      const auto bias = torch::randn({l.out}, gen);
      const auto x = torch::randn(xshape, gen);
      const auto compressed =
          c10::make_intrusive<cigl::kernels::CompressedMask>(mask);
      auto op = [&](bool sparse, const torch::Tensor& in,
                    const torch::Tensor& w, const torch::Tensor& b) {
        if (sparse) {
          return l.conv ? cigl::kernels::sparse_conv2d(in, w, b, compressed,
                                                       {l.padding, l.padding})
                        : cigl::kernels::sparse_linear(in, w, b, compressed);
        }
        return l.conv ? torch::conv2d(in, w, b, 1, l.padding)
                      : torch::linear(in, w, b);
      };
      torch::Tensor grad_out;
      {
        torch::NoGradGuard no_grad;
        grad_out = torch::randn(op(false, x, weight, bias).sizes(), gen);
      }
      double t[3][2];
      for (int s = 0; s < 2; ++s) {
        const bool sparse = s == 1;
        t[0][s] = time_part(
            repeats, [] { return 0; },
            [&](int) {
              torch::NoGradGuard no_grad;
              op(sparse, x, weight, bias);
            });
        // Gradients: the forward pass in setup, the backward pass timed.
        for (int which = 1; which <= 2; ++which) {
          t[which][s] = time_part(
              repeats,
              [&] {
                auto xi = x.clone().requires_grad_(which == 1);
                auto wi = weight.clone().requires_grad_(which == 2);
                if (which == 2) wi.mutable_grad() = torch::zeros_like(wi);
                auto y = op(sparse, xi, wi, bias);
                // The output gradient in the output's layout, as the next
                // layer hands it over.
                auto g = torch::empty_like(y).copy_(grad_out);
                return std::make_tuple(y, g, xi, wi);
              },
              [&](std::tuple<torch::Tensor, torch::Tensor, torch::Tensor,
                             torch::Tensor>& state) {
                std::get<0>(state).backward(std::get<1>(state));
              });
        }
      }
      const auto sgd = time_sgd(*compressed, weight, mask, gen, repeats);
      std::printf(
          "%-30s %7.3f | %8.3f %8.3f %6.2fx | %8.3f %8.3f %6.2fx | %8.3f "
          "%8.3f %6.2fx | %8.3f %8.3f %6.2fx | %5.0fx\n",
          l.name, d, t[0][0], t[0][1], t[0][0] / t[0][1], t[1][0], t[1][1],
          t[1][0] / t[1][1], t[2][0], t[2][1], t[2][0] / t[2][1], sgd.first,
          sgd.second, sgd.first / sgd.second, 1.0 / d);
      std::fflush(stdout);
    }
  }
}

struct Model {
  const char* name;
  const char* toml;
};

/// Untimed pause before each timed epoch. OpenBLAS's threads spin for
/// about 0.1 s after a BLAS call (its THREAD_TIMEOUT, 2^28 cycles) before
/// they sleep, and on 2 cores they take turns with LibTorch's OpenMP
/// threads meanwhile: an epoch with the sparse kernels right after a dense
/// one starts beside them, which no run does. (Alternating off and on
/// every 16 steps, that cut LeNet-300-100's speed-up at density 0.05 from
/// 3.3-4.0x, with OPENBLAS_THREAD_TIMEOUT=20 or less, to 2.5-2.7x; see
/// docs/benchmarks.md.)
int settle_ms = 200;

void bench_epochs(cigl::Registry& registry,
                  const std::vector<double>& densities,
                  const std::vector<std::string>& models,
                  const std::string& method, int repeats, int threads) {
  const Model all[] = {
      {"lenet300", "plugin = \"mlp\"\nhidden = [300, 100]\n"},
      {"wide", "plugin = \"mlp\"\nhidden = [1024, 1024]\n"},
      {"lenet5", "plugin = \"lenet5\"\n"},
  };
  const char* const settings[] = {"off", "on", "auto"};
  std::printf(
      "\none Fashion-MNIST epoch of %s (ERK) with sparse_kernels off, on and "
      "auto, back to back\n(each after %d ms idle), repeated %d times: "
      "median seconds, the median and range of\nthe repeats' speed-ups over "
      "off, the training-FLOPs limit, test accuracy after the\nepoch (off / "
      "on)\n",
      method.c_str(), settle_ms, repeats);
  std::printf("%-9s %7s | %7s %7s %7s | %6s %11s %6s | %6s | %7s %7s | %s\n",
              "model", "density", "off s", "on s", "auto s", "on x", "on range",
              "auto x", "limit", "acc off", "acc on", "auto: sparse layers");
  for (const auto& m : all) {
    if (std::find(models.begin(), models.end(), m.name) == models.end()) {
      continue;
    }
    for (double d : densities) {
      std::vector<double> seconds[3], on_x, auto_x;
      double limit = 0, accuracy[3] = {0, 0, 0};
      std::string auto_choice;
      for (int r = 0; r < repeats; ++r) {
        for (int k = 0; k < 3; ++k) {
          const std::string text =
              "[experiment]\ndevice = \"cpu\"\nthreads = " +
              std::to_string(threads) +
              "\n[training]\nepochs = 1\nvalidation_fraction = 0.0\n"
              "eval_every = 0\nsparse_kernels = \"" +
              settings[k] + "\"\n[model]\n" + m.toml + "[method]\nplugin = \"" +
              method + "\"\ndensity = " + std::to_string(d) +
              "\n[optimizer]\nlr = 0.05\n[[metrics]]\nplugin = "
              "\"accuracy\"\n";
          auto doc = cigl::ConfigDocument::from_string(text, "bench");
          cigl::Trainer trainer(doc.resolve(registry), registry);
          std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
          const auto start = clock_type::now();
          trainer.train_epoch();
          seconds[k].push_back(ms_since(start) / 1000);
          if (r == 0) {
            accuracy[k] = trainer.test().at(0).second;
            if (k == 0) {
              limit = 1 / trainer.costs(cigl::FlopsConvention::plain)
                              .training_flops_ratio();
            }
            if (k == 2) {
              for (const auto& c : trainer.kernels().choices()) {
                if (c.sparse) auto_choice += c.layer + " ";
              }
            }
          }
        }
        on_x.push_back(seconds[0].back() / seconds[1].back());
        auto_x.push_back(seconds[0].back() / seconds[2].back());
      }
      std::printf(
          "%-9s %7.3f | %7.3f %7.3f %7.3f | %5.2fx %5.2f-%5.2f %5.2fx | "
          "%5.2fx | %7.4f %7.4f | %s\n",
          m.name, d, cigl::bench::median(seconds[0]),
          cigl::bench::median(seconds[1]), cigl::bench::median(seconds[2]),
          cigl::bench::median(on_x),
          *std::min_element(on_x.begin(), on_x.end()),
          *std::max_element(on_x.begin(), on_x.end()),
          cigl::bench::median(auto_x), limit, accuracy[0], accuracy[1],
          auto_choice.empty() ? "-" : auto_choice.c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string part = "both";
  int repeats = 3, threads = 0;
  std::vector<double> densities = {0.2, 0.1, 0.05, 0.02};
  std::vector<std::string> models = {"lenet300", "wide", "lenet5"};
  std::string method = "rigl";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    if (option == "--part") {
      part = argv[i + 1];
    } else if (option == "--repeats") {
      repeats = std::max(1, std::atoi(argv[i + 1]));
    } else if (option == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else if (option == "--densities") {
      densities = parse_list(argv[i + 1]);
    } else if (option == "--models") {
      models = split(argv[i + 1]);
    } else if (option == "--settle") {
      settle_ms = std::max(0, std::atoi(argv[i + 1]));
    } else if (option == "--method") {
      method = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (part != "layers" && part != "epochs" && part != "both") {
    std::fprintf(stderr, "--part takes layers, epochs or both\n");
    return 2;
  }
  try {
    if (threads > 0) torch::set_num_threads(threads);
    // The layers run on LibTorch's threads as they are; the epochs on the
    // trainer's (experiment.threads = --threads, 0: all cores).
    std::printf(
        "cpu %s, %d threads (epochs: %d), kernels %s, load average "
        "%s\n",
        first_line("/proc/cpuinfo", "model name").c_str(),
        torch::get_num_threads(), cigl::cpu_threads(threads, nullptr),
        cigl::kernels::instruction_set(), load_average().c_str());
    if (part != "epochs") bench_layers(densities, repeats);
    if (part != "layers") {
      cigl::Registry registry;
      cigl::bench::load_plugins(registry);
      bench_epochs(registry, densities, models, method, repeats, threads);
    }
    std::printf("load average at the end %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
