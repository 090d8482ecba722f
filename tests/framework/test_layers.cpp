// The SDK's sparse-capable layers: without a kernel they are the torch
// layers (same initialisation, same results bit for bit), masks find
// them, and they say which convolutions the kernels cannot run.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/layers.hpp"
#include "cigl/masking.hpp"

namespace cigl {
namespace {

TEST(Layers, WithoutAKernelTheyAreTheTorchLayers) {
  torch::manual_seed(3);
  nn::Linear ours(10, 4);
  torch::manual_seed(3);
  torch::nn::Linear theirs(10, 4);
  EXPECT_TRUE(torch::equal(ours->weight, theirs->weight));
  auto x = torch::randn({5, 10});
  EXPECT_TRUE(torch::equal(ours->forward(x), theirs->forward(x)));

  torch::manual_seed(4);
  nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3).padding(1));
  torch::manual_seed(4);
  torch::nn::Conv2d tconv(torch::nn::Conv2dOptions(2, 3, 3).padding(1));
  auto image = torch::randn({2, 2, 6, 6});
  EXPECT_TRUE(torch::equal(conv->forward(image), tconv->forward(image)));
  EXPECT_FALSE(conv->kernel());
}

TEST(Layers, MasksFindThem) {
  torch::nn::Sequential model(nn::Conv2d(1, 2, 3), torch::nn::Flatten(),
                              nn::Linear(8, 3));
  const auto params = maskable_parameters(*model);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "0.weight");
  EXPECT_EQ(params[1].name, "2.weight");
}

TEST(Layers, ConvolutionsTheKernelsCannotRunSayWhy) {
  EXPECT_EQ(nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).padding({2, 1}))
                ->sparse_op()
                .padding,
            (std::array<std::int64_t, 2>{2, 1}));
  EXPECT_EQ(
      nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3))->sparse_op().unsupported,
      "");
  EXPECT_EQ(nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).stride(2))
                ->sparse_op()
                .unsupported,
            "stride other than 1");
  EXPECT_EQ(nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).groups(2))
                ->sparse_op()
                .unsupported,
            "grouped convolution");
  EXPECT_EQ(nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).padding(torch::kSame))
                ->sparse_op()
                .unsupported,
            "padding \"same\"");
  EXPECT_EQ(nn::Linear(3, 2)->sparse_op().kind, SparseOp::Kind::linear);
}

}  // namespace
}  // namespace cigl
