// The CUDA expert runner's estimate of the rows that land on local experts (kernels/cuda/local_rows.h), checked
// as plain host code against exact integer arithmetic: count * L / E, rounded down, for E not a multiple of 32,
// L = E (no expert parallelism), L = 1, and counts up to 16384 tokens x k = 8 assignments and beyond.
#include <gtest/gtest.h>

#include <cstdint>

#include "../../kernels/cuda/local_rows.h"

namespace {

using moekit::cuda::experts::expected_local;
using moekit::cuda::experts::expected_local_rows;
using moekit::cuda::experts::rows_per_local_expert;

TEST(LocalRows, RoundDownAsIntegerArithmeticDoes) {
  for (int64_t experts : {1, 7, 8, 60, 128, 129, 256, 1000}) {
    for (int64_t local : {int64_t{1}, experts / 3 + 1, experts}) {
      for (int64_t count = 0; count <= 4096; count += (count < 64 ? 1 : 37)) {
        EXPECT_EQ(expected_local_rows(count, local, experts), count * local / experts)
            << count << " rows, " << local << " of " << experts << " experts";
      }
      const int64_t large = int64_t{16384} * 8 * 1024 + 3;  // far past any layer's assignments
      EXPECT_EQ(expected_local_rows(large, local, experts), large * local / experts);
    }
  }
}

TEST(LocalRows, AllLocalIsTheCountAndNoExpertsIsZero) {
  for (int64_t count : {0, 1, 8, 131072}) {
    EXPECT_EQ(expected_local(count, 128, 128), static_cast<double>(count));
    EXPECT_EQ(expected_local_rows(count, 128, 128), count);
    EXPECT_EQ(expected_local(count, 0, 0), 0.0);
  }
  // The FP8 gather's threshold: Qwen3-30B-A3B's k = 8 slots over 128 experts, 24 of them local: 1.5 rows a token.
  EXPECT_EQ(expected_local(8, 24, 128), 1.5);
  EXPECT_LT(expected_local(8, 23, 128), 1.5);
}

// Rows per local expert, by which the tier and the grouped tiles are chosen: T * k / L without expert parallelism;
// with it the rows uniform routing sends to the L local experts, T * k * L / E, over L: T * k / E, not the T * k / L
// that would count every routed row as local. Checked against that division for E not a multiple of 32.
TEST(LocalRows, RowsPerLocalExpertCountsOnlyTheLocalShare) {
  for (int64_t experts : {8, 33, 128, 256}) {
    for (int64_t local : {int64_t{1}, experts / 4 + 1, experts}) {
      for (int64_t count : {0, 1, 7, 2048, 131072}) {
        const double expected = static_cast<double>(count) / static_cast<double>(experts);
        EXPECT_NEAR(rows_per_local_expert(count, local, experts), expected, 1e-12 * (expected + 1.0))
            << count << " rows, " << local << " of " << experts << " experts";
      }
    }
  }
  // DeepSeek-V3 T = 256 (k = 8 of 256 experts) on 8 ranks of 32 experts: 8 rows per local expert, where T * k / L
  // would say 64 (the grouped tier's range instead of the streaming tier's).
  EXPECT_EQ(rows_per_local_expert(256 * 8, 32, 256), 8.0);
  EXPECT_EQ(rows_per_local_expert(256 * 8, 256, 256), 8.0);
  EXPECT_EQ(rows_per_local_expert(100, 0, 8), 0.0);  // no local experts
  EXPECT_EQ(rows_per_local_expert(100, 0, 0), 0.0);
}

}  // namespace
