#pragma once
// Decisions rank 0 takes for all ranks of a data-parallel run (what to do
// with the run folder, whether a matrix cell runs), and bytes it shares
// (a checkpoint read from its disk). Internal to the core.
#include <torch/torch.h>

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cigl/core/distributed.hpp"
#include "cigl/core/run.hpp"
#include "cigl/error.hpp"

namespace cigl {

/// Runs `decide` on rank 0 alone and gives every rank its result (a small
/// integer). Rank 0 rethrows what `decide` throws; the other ranks then
/// throw FollowingRankStopped with the exit code it will end with.
template <typename Decide>
int decided_on_rank0(Communicator* ranks, Decide&& decide) {
  if (!ranks) return decide();
  std::int64_t value = 0, failure = 0;
  std::exception_ptr error;
  if (ranks->rank() == 0) {
    try {
      value = decide();
    } catch (const ConfigError&) {
      failure = 2;  // cigl-run's usage or config error
      error = std::current_exception();
    } catch (...) {
      failure = 1;
      error = std::current_exception();
    }
  }
  std::vector<torch::Tensor> t{torch::tensor({value, failure}, torch::kLong)};
  ranks->broadcast(t, 0);
  if (error) std::rethrow_exception(error);
  const auto code = t[0][1].item<std::int64_t>();
  if (code != 0) {
    throw FollowingRankStopped(static_cast<int>(code),
                               "stopped with rank 0, whose error says why");
  }
  return static_cast<int>(t[0][0].item<std::int64_t>());
}

/// Gives every rank rank 0's `bytes`.
inline void share_bytes(Communicator& ranks, std::string& bytes) {
  std::vector<torch::Tensor> size{
      torch::tensor({static_cast<std::int64_t>(bytes.size())}, torch::kLong)};
  ranks.broadcast(size, 0);
  auto buffer = torch::empty({size[0][0].item<std::int64_t>()}, torch::kUInt8);
  if (ranks.rank() == 0 && buffer.numel() > 0) {
    std::memcpy(buffer.data_ptr(), bytes.data(), bytes.size());
  }
  std::vector<torch::Tensor> data{buffer};
  ranks.broadcast(data, 0);
  bytes.assign(static_cast<const char*>(data[0].data_ptr()),
               static_cast<std::size_t>(data[0].numel()));
}

}  // namespace cigl
