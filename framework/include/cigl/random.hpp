#pragma once
// Random numbers on the training device. A method that draws every step
// (CigL's random mask) draws with torch ops from a generator on the
// weights' device, so a CUDA step needs no host work and no host-to-device
// copy; the generator's state is saved and restored with the method's.
#include <cstdint>
#include <string>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

/// A new generator on `device` (CPU, or CUDA with LibTorch 2.x) seeded
/// with `seed`; independent of LibTorch's default generators. Throws
/// Error for a device this LibTorch cannot make one for.
CIGL_API torch::Generator make_generator(torch::Device device,
                                         std::uint64_t seed);

/// The entries of `candidates` (int64 {n}, e.g. the flat indices of a
/// layer's active weights) dropped by independent Bernoulli draws, each
/// with probability `drop_probability`, from `generator`, in no particular
/// order, on the device of `candidates`. From a CPU generator the draws
/// are a Binomial count and as many distinct positions (Floyd's
/// algorithm: O(dropped), not O(n)); from a CUDA one, one uniform draw per
/// candidate and a selection whose size the host must read. Throws Error
/// for a probability outside [0, 1] or candidates of another shape or type.
CIGL_API torch::Tensor bernoulli_dropped(const torch::Tensor& candidates,
                                         double drop_probability,
                                         torch::Generator& generator);

/// Bernoulli masks drawn from a generator of its own on one device: the
/// per-step random mask of CigL-like methods. Two samplers of the same
/// device and seed draw the same masks; get_state()/set_state() (or
/// save()/load()) restore the exact sequence.
class CIGL_API BernoulliSampler {
 public:
  BernoulliSampler();  ///< a CPU sampler with seed 0
  BernoulliSampler(torch::Device device, std::uint64_t seed);

  [[nodiscard]] torch::Device device() const;
  torch::Generator& generator() { return generator_; }

  /// bool tensor shaped like `mask` (bool, on device()): true where `mask`
  /// is true and an independent draw keeps the entry with probability
  /// `keep_probability`; false wherever `mask` is false. One uniform draw
  /// per entry, all on the device: no host synchronisation on CUDA.
  torch::Tensor keep_mask(const torch::Tensor& mask, double keep_probability);

  /// bernoulli_dropped() from this sampler's generator. On CUDA the host
  /// reads the selection's size (one synchronisation: use keep_mask()
  /// inside a CUDA step).
  torch::Tensor dropped(const torch::Tensor& candidates,
                        double drop_probability);

  /// The generator's state (a CPU byte tensor), for checkpoints.
  [[nodiscard]] torch::Tensor get_state() const;
  void set_state(const torch::Tensor& state);
  /// Writes/reads the state under `key`.
  void save(torch::serialize::OutputArchive& archive,
            const std::string& key) const;
  void load(torch::serialize::InputArchive& archive, const std::string& key);

 private:
  torch::Generator generator_;
};

}  // namespace cigl
