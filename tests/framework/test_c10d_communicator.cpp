// The communicator over c10d (Gloo on loopback), with ranks as threads:
// collectives give every rank the same values, in rank order where it
// matters, and a rank that never joins or stops answering is an error
// within the timeout, never a hang.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "cigl/core/distributed.hpp"
#include "distributed_support.hpp"

namespace cigl {
namespace {

void expect_no_errors(const std::vector<std::string>& errors) {
  for (std::size_t r = 0; r < errors.size(); ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
  }
}

TEST(C10dCommunicator, AllReduceCombinesTensorsOfEveryTypeInOneCall) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(3, [](Communicator& c) {
    const double r = c.rank();
    EXPECT_EQ(c.world_size(), 3);
    EXPECT_EQ(c.backend(), "gloo");
    // Ranks 0, 1, 2 hold 1, 2, 3 (floats) and 10 r (integers).
    std::vector<torch::Tensor> t{
        torch::full({2, 3}, r + 1, torch::kFloat),
        torch::tensor({static_cast<std::int64_t>(10 * r)}, torch::kLong),
        torch::full({4}, r + 1, torch::kFloat)};
    auto sum = t;
    for (auto& x : sum) x = x.clone();
    c.all_reduce(sum, ReduceOp::sum);
    EXPECT_TRUE(torch::equal(sum[0], torch::full({2, 3}, 6.0f)));
    EXPECT_EQ(sum[1].item<std::int64_t>(), 30);
    EXPECT_TRUE(torch::equal(sum[2], torch::full({4}, 6.0f)));
    auto max = t;
    for (auto& x : max) x = x.clone();
    c.all_reduce(max, ReduceOp::max);
    EXPECT_EQ(max[1].item<std::int64_t>(), 20);
    c.all_reduce(t, ReduceOp::min);
    EXPECT_TRUE(torch::equal(t[0], torch::full({2, 3}, 1.0f)));
    EXPECT_GT(c.seconds_communicating(), 0.0);
  }));
}

TEST(C10dCommunicator, BroadcastAndGatherKeepRankOrder) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(2, [](Communicator& c) {
    std::vector<torch::Tensor> t{
        torch::full({3}, static_cast<double>(c.rank() + 7), torch::kDouble)};
    c.broadcast(t, 1);
    EXPECT_TRUE(torch::equal(t[0], torch::full({3}, 8.0, torch::kDouble)));
    auto all =
        c.all_gather(torch::tensor({c.rank() * 100, c.rank() * 100 + 1}));
    ASSERT_EQ(all.size(), 2u);
    EXPECT_TRUE(torch::equal(all[0], torch::tensor({0, 1})));
    EXPECT_TRUE(torch::equal(all[1], torch::tensor({100, 101})));
    // Started now, waited for later.
    std::vector<torch::Tensor> pending_tensor{torch::ones({5})};
    auto pending = c.all_reduce_async(pending_tensor);
    pending->wait();
    EXPECT_TRUE(torch::equal(pending_tensor[0], torch::full({5}, 2.0f)));
  }));
}

TEST(C10dCommunicator, ARankThatNeverJoinsIsAnErrorWithinTheTimeout) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  RankEnvironment env;
  env.rank = 0;
  env.world_size = 2;
  env.master_port = free_local_port();
  CommunicatorOptions options;
  options.timeout_seconds = 2;
  const auto start = std::chrono::steady_clock::now();
  try {
    connect_ranks(env, options);
    FAIL() << "connected without rank 1";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rank 0 of 2 could not join the others"),
              std::string::npos)
        << what;
  }
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(waited, 60.0);  // bounded by the timeout, not a hang
}

TEST(C10dCommunicator, ARankThatStopsAnsweringIsAnErrorWithinTheTimeout) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto errors = test::on_ranks(
      2,
      [](Communicator& c) {
        if (c.rank() == 1) {
          // Alive, connected, and silent for longer than the timeout.
          std::this_thread::sleep_for(std::chrono::seconds(5));
          return;
        }
        std::vector<torch::Tensor> t{torch::ones({4})};
        c.all_reduce(t);
      },
      /*timeout_seconds=*/2);
  EXPECT_NE(errors[0].find("rank 0 of 2: all-reduce between the ranks failed"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("stopped responding"), std::string::npos);
  EXPECT_EQ(errors[1], "");
}

}  // namespace
}  // namespace cigl
