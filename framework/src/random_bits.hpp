// A LibTorch CPU generator as a standard random bit engine, so that
// <random>'s distributions draw from it: the draws are the generator's,
// and repeat and resume with its state.
#pragma once

#include <cstdint>

#include <ATen/CPUGeneratorImpl.h>

namespace cigl {

struct RandomBits {
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  at::CPUGeneratorImpl* impl;
  result_type operator()() { return impl->random64(); }
};

}  // namespace cigl
