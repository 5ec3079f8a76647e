// The CUDA expert runner's estimate of the rows that land on local experts (kernels/cuda/local_rows.h), checked
// as plain host code against exact integer arithmetic: count * L / E, rounded down, for E not a multiple of 32,
// L = E (no expert parallelism), L = 1, and counts up to 16384 tokens x k = 8 assignments and beyond.
#include <gtest/gtest.h>

#include <cstdint>

#include "../../kernels/cuda/local_rows.h"

namespace {

using moekit::cuda::experts::expected_local;
using moekit::cuda::experts::expected_local_rows;

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

}  // namespace
