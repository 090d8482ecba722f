// Data-parallel training against one process on the same global batch,
// measured in the same run: the median epoch time of one process (one
// thread, and as many threads as ranks), and of 2 ranks of one thread each
// over Gloo on loopback, with the share of each epoch rank 0 spent in
// collectives (waiting for gradient buckets, the per-step stop/checkpoint
// agreement, the epoch's loss), with and without overlapping the
// all-reduce with the backward pass, and with small buckets.
//
//   build/bin/cigl-bench-data-parallel [--model lenet5|mlp] [--method rigl]
//                                      [--epochs N] [--ranks R]
//
// The ranks are this program started again (cigl-run --nproc's launcher).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "cigl/core/config.hpp"
#include "cigl/core/distributed.hpp"
#include "cigl/core/launch.hpp"
#include "cigl/core/trainer.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Setup {
  std::string name;
  int ranks = 1, threads = 1;
  bool overlap = true;
  double bucket_mb = 25;
};

struct Epoch {
  double seconds = 0, communicating = 0, agreeing = 0;
};

std::string config_text(const std::string& model, const std::string& method,
                        int epochs, const Setup& s) {
  std::ostringstream out;
  out << "[experiment]\nthreads = " << s.threads << "\n"
      << "[training]\nepochs = " << epochs
      << "\nbatch_size = 128\nvalidation_fraction = 0\n"
      << "[model]\nplugin = \"" << model << "\"\n"
      << "[method]\nplugin = \"" << method << "\"\n"
      << "[distributed]\noverlap = " << (s.overlap ? "true" : "false")
      << "\nbucket_mb = " << s.bucket_mb << "\n";
  return out.str();
}

/// Trains `epochs` epochs as this process's rank (or alone) and returns
/// each epoch's wall time and, with ranks, the time in collectives.
std::vector<Epoch> train(const std::string& model, const std::string& method,
                         int epochs, const Setup& setup,
                         std::shared_ptr<cigl::Communicator> ranks) {
  cigl::Registry registry;
  cigl::bench::load_plugins(registry);
  const auto config = cigl::ConfigDocument::from_string(
                          config_text(model, method, epochs, setup), "bench")
                          .resolve(registry);
  cigl::Trainer trainer(config, registry, cigl::Trainer::Mode::train, ranks);
  std::vector<Epoch> out;
  double agreeing = 0;
  // What cigl-run does after every step with several ranks: agree on a
  // stop signal and on rank 0's checkpoint clock.
  auto on_step = [&](std::int64_t, std::int64_t) {
    if (!ranks) return;
    const auto start = Clock::now();
    std::vector<torch::Tensor> flags{torch::zeros({2}, torch::kLong)};
    ranks->all_reduce(flags, cigl::ReduceOp::max);
    agreeing += std::chrono::duration<double>(Clock::now() - start).count();
  };
  for (int e = 0; e < epochs; ++e) {
    const double communicating = ranks ? ranks->seconds_communicating() : 0;
    agreeing = 0;
    const auto start = Clock::now();
    trainer.train_epoch(on_step);
    Epoch epoch;
    epoch.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    epoch.communicating =
        ranks ? ranks->seconds_communicating() - communicating : 0;
    epoch.agreeing = agreeing;
    out.push_back(epoch);
  }
  return out;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "lenet5", method = "rigl", out_file;
  int epochs = 3, ranks = 2;
  Setup child;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") {
      model = value;
    } else if (key == "--method") {
      method = value;
    } else if (key == "--epochs") {
      epochs = std::stoi(value);
    } else if (key == "--ranks") {
      ranks = std::stoi(value);
    } else if (key == "--child-out") {  // a rank of this benchmark
      out_file = value;
    } else if (key == "--child-overlap") {
      child.overlap = value == "1";
    } else if (key == "--child-bucket-mb") {
      child.bucket_mb = std::stod(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  try {
    if (!out_file.empty()) {
      cigl::follow_launcher();
      const auto env = cigl::rank_environment(cigl::process_environment());
      child.ranks = env.world_size;
      auto comm = cigl::connect_ranks(env, {});
      const auto result = train(model, method, epochs, child, comm);
      if (env.rank == 0) {
        std::ofstream out(out_file);
        for (const auto& e : result) {
          out << e.seconds << " " << e.communicating << " " << e.agreeing
              << "\n";
        }
      }
      return 0;
    }

    const std::string self = fs::read_symlink("/proc/self/exe").string();
    const std::string load_before = load_average();
    const std::vector<Setup> setups = {
        {"1 process, 1 thread", 1, 1},
        {"1 process, " + std::to_string(ranks) + " threads", 1, ranks},
        {std::to_string(ranks) + " ranks x 1 thread, overlap", ranks, 1, true},
        {std::to_string(ranks) + " ranks x 1 thread, no overlap", ranks, 1,
         false},
        {std::to_string(ranks) + " ranks x 1 thread, overlap, 0.05 MB buckets",
         ranks, 1, true, 0.05},
    };
    std::printf(
        "model %s, method %s, Fashion-MNIST 60000 images, global batch 128 "
        "(469 steps) per epoch, median of %d epochs\n",
        model.c_str(), method.c_str(), epochs);
    std::printf("%-44s %8s %8s %8s %7s %9s\n", "setup", "epoch s", "vs 1x1",
                "comm s", "share", "agree s");
    double baseline = 0;
    for (const auto& s : setups) {
      std::vector<Epoch> result;
      if (s.ranks == 1) {
        result = train(model, method, epochs, s, nullptr);
      } else {
        const std::string file =
            (fs::temp_directory_path() /
             ("cigl-bench-dp-" + std::to_string(::getpid()) + ".txt"))
                .string();
        cigl::LaunchOptions launch;
        launch.executable = self;
        launch.args = {"--model",           model,
                       "--method",          method,
                       "--epochs",          std::to_string(epochs),
                       "--child-out",       file,
                       "--child-overlap",   s.overlap ? "1" : "0",
                       "--child-bucket-mb", std::to_string(s.bucket_mb)};
        launch.nproc = s.ranks;
        if (cigl::launch_local_ranks(launch) != 0) {
          std::fprintf(stderr, "the ranks failed\n");
          return 1;
        }
        std::ifstream in(file);
        for (Epoch e; in >> e.seconds >> e.communicating >> e.agreeing;) {
          result.push_back(e);
        }
        fs::remove(file);
      }
      std::vector<double> seconds, communicating, agreeing;
      for (const auto& e : result) {
        seconds.push_back(e.seconds);
        communicating.push_back(e.communicating);
        agreeing.push_back(e.agreeing);
      }
      const double t = cigl::bench::median(seconds);
      if (baseline == 0) baseline = t;
      const double c = cigl::bench::median(communicating);
      if (s.ranks == 1) {
        std::printf("%-44s %8.3f %7.3fx %8s %7s %9s\n", s.name.c_str(), t,
                    t / baseline, "-", "-", "-");
      } else {
        std::printf("%-44s %8.3f %7.3fx %8.3f %6.1f%% %9.3f\n", s.name.c_str(),
                    t, t / baseline, c, 100 * c / t,
                    cigl::bench::median(agreeing));
      }
      std::fflush(stdout);
    }
    std::printf("load average before: %s, after: %s (%u cores)\n",
                load_before.c_str(), load_average().c_str(),
                std::thread::hardware_concurrency());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
