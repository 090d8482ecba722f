#include "cigl/random.hpp"

#include <mutex>
#include <random>
#include <unordered_set>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "cigl/error.hpp"
#include "random_bits.hpp"

namespace cigl {

torch::Generator make_generator(torch::Device device, std::uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  if (device.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw Error("cannot make a random generator on " + device.str() +
                  ": no CUDA device is usable");
    }
#if TORCH_VERSION_MAJOR >= 2
    // A generator of its own, not the device's default one, so that
    // LibTorch's other draws do not shift this one's sequence.
    auto generator = at::detail::getCUDAHooks().getNewGenerator(
        device.has_index() ? device.index() : 0);
    generator.set_current_seed(seed);
    return generator;
#endif
  }
  throw Error("cannot make a random generator on " + device.str() +
              " with LibTorch " TORCH_VERSION);
}

namespace {

/// Positions in [0, n) of the dropped entries of n independent
/// Bernoulli(p) draws, as the distribution factors: a Binomial(n, p)
/// count, then that many distinct positions uniformly (Floyd's
/// algorithm).
std::vector<std::int64_t> bernoulli_positions(std::int64_t n, double p,
                                              torch::Generator& generator) {
  auto* impl = generator.get<at::CPUGeneratorImpl>();
  std::lock_guard<std::mutex> lock(generator.mutex());
  RandomBits bits{impl};
  const auto count = std::binomial_distribution<std::int64_t>(n, p)(bits);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(count));
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

void check_probability(double p, const char* what) {
  if (!(p >= 0 && p <= 1)) {
    throw Error(std::string(what) + " " + std::to_string(p) +
                " is not in [0, 1]");
  }
}

}  // namespace

torch::Tensor bernoulli_dropped(const torch::Tensor& candidates,
                                double drop_probability,
                                torch::Generator& generator) {
  check_probability(drop_probability, "bernoulli_dropped: drop probability");
  if (candidates.dim() != 1 || candidates.scalar_type() != torch::kLong) {
    throw Error("bernoulli_dropped: candidates must be int64 {n}");
  }
  const std::int64_t n = candidates.size(0);
  if (generator.device().is_cpu()) {
    auto positions = bernoulli_positions(n, drop_probability, generator);
    auto index = torch::tensor(positions, torch::kLong);
    return candidates.index_select(0, index.to(candidates.device()));
  }
  auto u = torch::rand(
      {n}, generator,
      torch::TensorOptions(torch::kFloat).device(generator.device()));
  return candidates.masked_select(
      u.lt(drop_probability).to(candidates.device()));
}

BernoulliSampler::BernoulliSampler()
    : generator_(make_generator(torch::kCPU, 0)) {}

BernoulliSampler::BernoulliSampler(torch::Device device, std::uint64_t seed)
    : generator_(make_generator(device, seed)) {}

torch::Device BernoulliSampler::device() const { return generator_.device(); }

torch::Tensor BernoulliSampler::keep_mask(const torch::Tensor& mask,
                                          double keep_probability) {
  check_probability(keep_probability,
                    "BernoulliSampler::keep_mask: keep probability");
  if (mask.device() != device() || mask.scalar_type() != torch::kBool) {
    throw Error("BernoulliSampler::keep_mask: the mask must be bool on " +
                device().str());
  }
  auto u = torch::rand(mask.sizes(), generator_,
                       torch::TensorOptions(torch::kFloat).device(device()));
  // u < keep holds with probability keep (u is uniform on [0, 1)).
  return u.lt(keep_probability).logical_and_(mask);
}

torch::Tensor BernoulliSampler::dropped(const torch::Tensor& candidates,
                                        double drop_probability) {
  return bernoulli_dropped(candidates, drop_probability, generator_);
}

torch::Tensor BernoulliSampler::get_state() const {
  return generator_.get_state();
}

void BernoulliSampler::set_state(const torch::Tensor& state) {
  generator_.set_state(state.cpu());
}

void BernoulliSampler::save(torch::serialize::OutputArchive& archive,
                            const std::string& key) const {
  archive.write(key, get_state());
}

void BernoulliSampler::load(torch::serialize::InputArchive& archive,
                            const std::string& key) {
  torch::Tensor state;
  archive.read(key, state);
  set_state(state);
}

}  // namespace cigl
