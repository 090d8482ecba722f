// Where a process stands among the ranks, read from torchrun's and
// Slurm's environment as those set it; Slurm's node lists; and how an
// epoch's examples are split between ranks, against DistributedSampler's
// rule written out here.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "cigl/core/distributed.hpp"
#include "cigl/error.hpp"

namespace cigl {
namespace {

Environment env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string config_error(const std::map<std::string, std::string>& vars) {
  try {
    rank_environment(env_of(vars));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(RankEnvironment, NoVariablesIsOneProcess) {
  const auto r = rank_environment(env_of({{"HOME", "/root"}}));
  EXPECT_EQ(r.world_size, 1);
  EXPECT_EQ(r.rank, 0);
  EXPECT_EQ(r.launcher, "");
}

// What torchrun --nproc_per_node=4 --nnodes=2 gives its sixth worker.
TEST(RankEnvironment, TorchrunsVariablesMakeARank) {
  const auto r =
      rank_environment(env_of({{"RANK", "5"},
                               {"WORLD_SIZE", "8"},
                               {"LOCAL_RANK", "1"},
                               {"LOCAL_WORLD_SIZE", "4"},
                               {"MASTER_ADDR", "node17"},
                               {"MASTER_PORT", "29500"},
                               {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                               // torchrun inside a Slurm job
                               {"SLURM_PROCID", "0"},
                               {"SLURM_NTASKS", "2"}}));
  EXPECT_EQ(r.launcher, "torchrun");
  EXPECT_EQ(r.rank, 5);
  EXPECT_EQ(r.world_size, 8);
  EXPECT_EQ(r.local_rank, 1);
  EXPECT_EQ(r.local_world_size, 4);
  EXPECT_EQ(r.master_addr, "node17");
  EXPECT_EQ(r.master_port, 29500);
  EXPECT_TRUE(r.agent_store);
  // A world of one is a plain single process.
  EXPECT_EQ(
      rank_environment(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}})).launcher,
      "");
}

TEST(RankEnvironment, InconsistentTorchrunVariablesNameTheVariable) {
  EXPECT_NE(config_error({{"RANK", "1"}}).find("WORLD_SIZE is not set"),
            std::string::npos);
  EXPECT_NE(
      config_error({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}})
          .find("RANK=2 is not below WORLD_SIZE=2"),
      std::string::npos);
  EXPECT_NE(config_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}})
                .find("MASTER_PORT is not set"),
            std::string::npos);
  EXPECT_NE(config_error({{"RANK", "x"}, {"WORLD_SIZE", "2"}})
                .find("RANK=\"x\": expected an integer >= 0"),
            std::string::npos);
}

// What srun -N2 --ntasks-per-node=2 gives its fourth task.
TEST(RankEnvironment, SlurmsVariablesMakeARankWithTheFirstNodeAsMaster) {
  const auto r = rank_environment(env_of({{"SLURM_PROCID", "3"},
                                          {"SLURM_NTASKS", "4"},
                                          {"SLURM_LOCALID", "1"},
                                          {"SLURM_NTASKS_PER_NODE", "2"},
                                          {"SLURM_JOB_NODELIST", "gpu[07-08]"},
                                          {"SLURM_JOB_ID", "123456"}}));
  EXPECT_EQ(r.launcher, "slurm");
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.world_size, 4);
  EXPECT_EQ(r.local_rank, 1);
  EXPECT_EQ(r.local_world_size, 2);
  EXPECT_EQ(r.master_addr, "gpu07");
  EXPECT_EQ(r.master_port, 13456);  // 10000 + 123456 % 20000

  // The step's own list and count come first; MASTER_* win.
  const auto step = rank_environment(env_of({{"SLURM_PROCID", "0"},
                                             {"SLURM_NTASKS", "16"},
                                             {"SLURM_STEP_NUM_TASKS", "2"},
                                             {"SLURM_JOB_NODELIST", "a[1-8]"},
                                             {"SLURM_STEP_NODELIST", "a[3-4]"},
                                             {"SLURM_JOB_ID", "7"},
                                             {"MASTER_PORT", "4242"}}));
  EXPECT_EQ(step.world_size, 2);
  EXPECT_EQ(step.master_addr, "a3");
  EXPECT_EQ(step.master_port, 4242);

  // A one-task step (a matrix cell's array task) is a single process.
  EXPECT_EQ(rank_environment(env_of({{"SLURM_PROCID", "0"},
                                     {"SLURM_NTASKS", "1"},
                                     {"SLURM_JOB_ID", "7"}}))
                .world_size,
            1);
  EXPECT_NE(config_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}})
                .find("no SLURM_JOB_NODELIST"),
            std::string::npos);
}

TEST(NodeList, CompressedListsExpandInOrderKeepingZeroPadding) {
  EXPECT_EQ(expand_node_list("node[01-03,07],login1"),
            (std::vector<std::string>{"node01", "node02", "node03", "node07",
                                      "login1"}));
  EXPECT_EQ(expand_node_list("r[1-2]n[8-9]"),
            (std::vector<std::string>{"r1n8", "r1n9", "r2n8", "r2n9"}));
  EXPECT_EQ(expand_node_list("localhost"),
            (std::vector<std::string>{"localhost"}));
  EXPECT_EQ(expand_node_list("gpu[9-10]"),
            (std::vector<std::string>{"gpu9", "gpu10"}));
  for (const char* bad : {"x[1-", "x[3-1]", "x[a]", "a,,b", "x]"}) {
    EXPECT_THROW(expand_node_list(bad), ConfigError) << bad;
  }
}

// DistributedSampler(drop_last=False), written out: the permutation padded
// with its own head to a multiple of the world size; rank r takes entries
// r, r + W, ...; its loader then batches them B / W at a time.
std::vector<std::vector<std::int64_t>> sampler_batches(
    const std::vector<std::int64_t>& perm, int world, int rank,
    std::int64_t batch) {
  std::vector<std::int64_t> padded = perm;
  const std::size_t total = (perm.size() + world - 1) / world * world;
  for (std::size_t i = 0; padded.size() < total; ++i) {
    padded.push_back(perm[i % perm.size()]);
  }
  std::vector<std::int64_t> mine;
  for (std::size_t i = rank; i < padded.size(); i += world) {
    mine.push_back(padded[i]);
  }
  std::vector<std::vector<std::int64_t>> out;
  const auto per_rank = static_cast<std::size_t>(batch / world);
  for (std::size_t i = 0; i < mine.size(); i += per_rank) {
    out.emplace_back(mine.begin() + i,
                     mine.begin() + std::min(mine.size(), i + per_rank));
  }
  return out;
}

std::vector<std::int64_t> values(const torch::Tensor& t) {
  auto c = t.contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

// The trainer's way (shares of each global batch of the padded order) is
// DistributedSampler's, batch for batch and rank for rank; an epoch
// covers every example once, plus the padding.
TEST(Sharding, EachRanksBatchesAreDistributedSamplersAndCoverTheEpoch) {
  for (const std::int64_t n : {1000, 1001, 3}) {
    for (const int world : {2, 3, 4}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", " + std::to_string(world) +
                   " ranks");
      const std::int64_t batch = 12;  // divisible by each world size
      auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
      const auto perm = torch::randperm(n, generator, torch::kLong);
      const auto order = padded_order(perm, world);
      const std::int64_t padded = (n + world - 1) / world * world;
      ASSERT_EQ(order.size(0), padded);
      const std::int64_t steps = (padded + batch - 1) / batch;
      EXPECT_EQ(steps, (n + batch - 1) / batch);  // no step added
      std::map<std::int64_t, int> seen;
      for (int r = 0; r < world; ++r) {
        const auto expected = sampler_batches(values(perm), world, r, batch);
        ASSERT_EQ(static_cast<std::int64_t>(expected.size()), steps);
        for (std::int64_t b = 0; b < steps; ++b) {
          const auto len = std::min(batch, padded - b * batch);
          const auto share =
              values(rank_share(order.narrow(0, b * batch, len), r, world));
          EXPECT_EQ(share, expected[b]) << "rank " << r << " step " << b;
          for (auto i : share) ++seen[i];
        }
      }
      ASSERT_EQ(static_cast<std::int64_t>(seen.size()), n);  // every example
      std::int64_t twice = 0;
      for (const auto& [example, count] : seen) twice += count - 1;
      EXPECT_EQ(twice, padded - n);  // only the padding repeats
    }
  }
}

TEST(Sharding, EvaluationSharesAreContiguousBlocksInOrder) {
  auto shares = [](std::int64_t n, int world) {
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    for (int r = 0; r < world; ++r) {
      auto s = evaluation_share(n, r, world);
      out.emplace_back(s.begin, s.end);
    }
    return out;
  };
  using P = std::vector<std::pair<std::int64_t, std::int64_t>>;
  EXPECT_EQ(shares(10, 3), (P{{0, 4}, {4, 8}, {8, 10}}));
  EXPECT_EQ(shares(2, 3), (P{{0, 1}, {1, 2}, {2, 2}}));
  EXPECT_EQ(shares(0, 2), (P{{0, 0}, {0, 0}}));
  EXPECT_EQ(shares(7, 1), (P{{0, 7}}));
}

TEST(Collectives, OneProcessIsRankZeroOfOneAndChangesNothing) {
  Collectives& one = Collectives::single_process();
  EXPECT_EQ(one.rank(), 0);
  EXPECT_EQ(one.world_size(), 1);
  EXPECT_TRUE(one.owns(0));
  EXPECT_TRUE(one.owns(5));
  std::vector<torch::Tensor> t{torch::tensor({1.5, 2.5})};
  one.all_reduce(t);
  one.broadcast(t);
  EXPECT_TRUE(torch::equal(t[0], torch::tensor({1.5, 2.5})));
}

}  // namespace
}  // namespace cigl
