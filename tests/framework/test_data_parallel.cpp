// The trainer's data-parallel pieces, with ranks as threads over Gloo:
// averaged gradients equal one process's gradient on the whole batch,
// masks that differ are an error naming the layer, BatchNorm statistics
// recomputed over all ranks' batches equal one process's pass, and
// evaluation rows come back in order.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cigl/core/data_parallel.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cigl/sparse.hpp"
#include "distributed_support.hpp"

namespace cigl {
namespace {

void expect_no_errors(const std::vector<std::string>& errors) {
  for (std::size_t r = 0; r < errors.size(); ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
  }
}

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(5, 7));
    bn = register_module("bn", torch::nn::BatchNorm1d(7));
    fc2 = register_module("fc2", torch::nn::Linear(7, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2(torch::relu(bn(fc1(x))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Net);

/// A copy of `net` (parameters and buffers), as every rank holds one.
Net copy_of(const Net& net) {
  Net out;
  torch::NoGradGuard no_grad;
  auto from = net->named_parameters();
  for (auto& p : out->named_parameters()) p.value().copy_(from[p.key()]);
  auto buffers = net->named_buffers();
  for (auto& b : out->named_buffers()) b.value().copy_(buffers[b.key()]);
  return out;
}

struct Data {
  torch::Tensor x, y;
};
Data data(std::int64_t n) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  return {torch::randn({n, 5}, g), torch::randint(0, 3, {n}, g)};
}

// One process on the whole batch of 12, by autograd; each rank on its 6
// (BatchNorm from running statistics, so examples are independent).
TEST(GradientSync, TheAverageIsTheGradientOfTheWholeBatch) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(2, [](Communicator& c) {
    torch::manual_seed(0);
    Net reference;
    reference->eval();
    const Data d = data(12);
    torch::nn::functional::cross_entropy(reference->forward(d.x), d.y)
        .backward();
    auto expected = reference->named_parameters();
    for (const double bucket_mb : {25.0, 1e-6}) {  // one bucket; one each
      for (const bool overlap : {true, false}) {
        SCOPED_TRACE("bucket_mb " + std::to_string(bucket_mb) + ", overlap " +
                     std::to_string(overlap));
        Net net = copy_of(reference);
        net->eval();
        GradientSync sync(net->parameters(), c, bucket_mb, overlap);
        EXPECT_EQ(sync.bucket_count(), bucket_mb > 1 ? 1u : 6u);
        for (int step = 0; step < 2; ++step) {  // the hooks re-arm
          net->zero_grad();
          sync.begin();
          const auto x = d.x.narrow(0, 6 * c.rank(), 6);
          const auto y = d.y.narrow(0, 6 * c.rank(), 6);
          torch::nn::functional::cross_entropy(net->forward(x), y).backward();
          sync.finish();
        }
        for (const auto& p : net->named_parameters()) {
          EXPECT_TRUE(torch::allclose(p.value().grad(),
                                      expected[p.key()].grad(), 1e-5, 1e-6))
              << p.key();
          // Every rank holds the very same bits.
          auto all = c.all_gather(p.value().grad());
          EXPECT_TRUE(torch::equal(all[0], all[1])) << p.key();
        }
      }
    }
  }));
}

TEST(MaskCheck, MasksThatDifferAreAnErrorNamingTheLayerOnEveryRank) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(2, [](Communicator& c) {
    torch::manual_seed(0);
    Net net;
    MaskSet masks(*net);
    check_masks_agree(masks, c, "after setup");  // all ones: the same
    auto m = masks.mask(1).clone();
    m.view(-1)[c.rank()] = false;  // rank 0 and rank 1 drop different ones
    masks.set_mask(1, m);
    try {
      check_masks_agree(masks, c, "after the topology update at step 300");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("the ranks' masks differ after the topology update "
                          "at step 300, in layer fc2.weight"),
                std::string::npos)
          << what;
      EXPECT_EQ(what.find("fc1"), std::string::npos) << what;
    }
  }));
  // Equal masks, different checksums for different masks.
  auto a = torch::ones({4, 4}, torch::kBool);
  auto b = a.clone();
  b[2][3] = false;
  EXPECT_EQ(mask_checksum(a), mask_checksum(a.clone()));
  EXPECT_NE(mask_checksum(a), mask_checksum(b));
}

/// recompute_batchnorm of `net` over 5 batches of 10, as `ranks` see them.
void recompute(const Net& net, const Data& d, Collectives& ranks) {
  struct Wrapped : Model {
    explicit Wrapped(Net n) : inner(register_module("inner", std::move(n))) {}
    torch::Tensor forward(torch::Tensor x) override {
      return inner->forward(x);
    }
    Net inner;
  };
  TrainContext context;
  context.model = std::make_shared<Wrapped>(net);
  context.collectives = &ranks;
  context.for_each_train_batch = [&](const auto& fn) {
    for (std::int64_t b = 0; b < 50; b += 10) {
      fn(d.x.narrow(0, b, 10), d.y.narrow(0, b, 10));
    }
  };
  recompute_batchnorm(context);
}

// Two ranks (rank 0 forwarding batches 0, 2, 4, rank 1 batches 1, 3) end
// with the statistics of one process's pass over all five.
TEST(RecomputeBatchnorm, TheRanksStatisticsAreThoseOfOnePassOverAllBatches) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(2, [](Communicator& c) {
    torch::manual_seed(1);
    Net reference;
    const Data d = data(50);
    Net one = copy_of(reference);
    recompute(one, d, Collectives::single_process());
    Net net = copy_of(reference);
    recompute(net, d, c);
    EXPECT_TRUE(torch::allclose(net->bn->running_mean, one->bn->running_mean,
                                1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(net->bn->running_var, one->bn->running_var,
                                1e-5, 1e-6));
    EXPECT_EQ(net->bn->num_batches_tracked.item<std::int64_t>(), 5);
  }));
}

TEST(RunningStats, AveragedOverTheRanks) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(2, [](Communicator& c) {
    Net net;
    // Rank 0: means 1, variances 1; rank 1: means 3, variances 5.
    net->bn->running_mean.fill_(c.rank() == 0 ? 1.0 : 3.0);
    net->bn->running_var.fill_(c.rank() == 0 ? 1.0 : 5.0);
    average_running_stats(*net, c);
    EXPECT_TRUE(torch::equal(net->bn->running_mean, torch::full({7}, 2.0f)));
    EXPECT_TRUE(torch::equal(net->bn->running_var, torch::full({7}, 3.0f)));
  }));
}

TEST(GatherRows, EveryRanksShareComesBackInOrder) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_no_errors(test::on_ranks(3, [](Communicator& c) {
    const auto full = torch::arange(15, torch::kDouble).view({5, 3});
    // Shares of 5 over 3 ranks: rows 0-1, 2-3, 4.
    const auto share = evaluation_share(5, c.rank(), 3);
    const auto local = full.narrow(0, share.begin, share.end - share.begin);
    EXPECT_TRUE(torch::equal(gather_rows(local, 5, 3, c), full));
  }));
}

}  // namespace
}  // namespace cigl
