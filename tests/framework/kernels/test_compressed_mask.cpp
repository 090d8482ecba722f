// The compressed forms of a mask small enough to write out by hand.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cigl/core/sparse_ops.hpp"

namespace cigl::kernels {
namespace {

TEST(CompressedMask, RowsColumnsAndGradientIndicesOfASmallMask) {
  // 3 x 4:  row 0: . x . x
  //         row 1: . . . .
  //         row 2: x x . x
  const auto mask =
      torch::tensor({0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1}, torch::kBool)
          .view({3, 4});
  const CompressedMask m(mask);
  EXPECT_EQ(m.nnz(), 5);
  EXPECT_EQ(m.row_begin, (std::vector<std::int64_t>{0, 2, 2, 5}));
  EXPECT_EQ(m.col, (std::vector<std::int32_t>{1, 3, 0, 1, 3}));
  // Columns 0..3 hold {2}, {0, 2}, {}, {0, 2}.
  EXPECT_EQ(m.column_begin, (std::vector<std::int64_t>{0, 1, 3, 3, 5}));
  EXPECT_EQ(m.column_row, (std::vector<std::int32_t>{2, 0, 2, 0, 2}));
  // Their entries in row order: (2,0)=2, (0,1)=0, (2,1)=3, (0,3)=1, (2,3)=4.
  EXPECT_EQ(m.column_entry, (std::vector<std::int64_t>{2, 0, 3, 1, 4}));

  const std::vector<float> weight = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  std::vector<float> values(5), by_column(5);
  m.gather(weight.data(), values.data());
  EXPECT_EQ(values, (std::vector<float>{1, 3, 8, 9, 11}));
  m.to_column_order(values.data(), by_column.data());
  EXPECT_EQ(by_column, (std::vector<float>{8, 1, 9, 3, 11}));

  const auto g = m.to_dense(torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f}));
  EXPECT_TRUE(torch::equal(g, torch::tensor({0.f, 1.f, 0.f, 2.f, 0.f, 0.f, 0.f,
                                             0.f, 3.f, 4.f, 0.f, 5.f})
                                  .view({3, 4})));
}

TEST(CompressedMask, ConvolutionWeightsAreRowsOfChannelAndKernelPosition) {
  // {2, 1, 2, 2}: entries at (0,0,1,0) and (1,0,0,1).
  auto mask = torch::zeros({2, 1, 2, 2}, torch::kBool);
  mask[0][0][1][0] = true;
  mask[1][0][0][1] = true;
  const CompressedMask m(mask);
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.cols, 4);
  EXPECT_EQ(m.col, (std::vector<std::int32_t>{2, 1}));
  auto dense = m.to_dense(torch::tensor({7.f, 9.f}));
  EXPECT_EQ(dense.sizes(), mask.sizes());
  EXPECT_EQ(dense[0][0][1][0].item<float>(), 7.f);
  EXPECT_EQ(dense[1][0][0][1].item<float>(), 9.f);
  EXPECT_EQ(dense.count_nonzero().item<std::int64_t>(), 2);
}

}  // namespace
}  // namespace cigl::kernels
