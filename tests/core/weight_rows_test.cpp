// The CUDA expert runner's FP8 weight-scale rules (kernels/cuda/weight_rows.h), compiled here as plain host code:
// for every padded weight row a per-block scale copy covers, the caller block whose scale the block takes must be
// the row's own. Row by row, against the caller's layout (gate rows then up rows, 128-row scale blocks), for the
// single w13 block copy (I % 128 == 0), GEMM1's two windows (w13_gemm1_windows) and w2.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "../../kernels/cuda/weight_rows.h"

using moekit::cuda::experts::RowMap;
using moekit::cuda::experts::scale_source_row;
using moekit::cuda::experts::w13_gemm1_windows;
using moekit::cuda::experts::w13_up_window_row0;

namespace {

int64_t round_up_128(int64_t v) { return (v + 127) / 128 * 128; }

// Blocks of 128 padded rows from row0 up to row_end: every real row's caller block must be the one the block's
// scale comes from, and a block with real rows must get a scale. Returns the number of wrong rows.
int64_t wrong_rows(const RowMap& map, int64_t row0, int64_t row_end, const std::string& what) {
  int64_t wrong = 0;
  for (int64_t first = row0; first < row_end; first += 128) {
    const int64_t last = (first + 128 < row_end ? first + 128 : row_end) - 1;
    const int64_t chosen = scale_source_row(map, first, last);
    for (int64_t pr = first; pr <= last; ++pr) {
      const int64_t r = map.source(pr);
      if (r < 0) continue;  // padding: zero weights, any scale
      if (chosen < 0 || chosen / 128 != r / 128) {
        ++wrong;
        ADD_FAILURE() << what << ": padded row " << pr << " (caller row " << r << ") takes the scale of "
                      << (chosen < 0 ? std::string("no block") : "caller block " + std::to_string(chosen / 128));
        return wrong;  // one report per case is enough
      }
    }
  }
  return wrong;
}

}  // namespace

TEST(WeightRows, Gemm1BlockScalesTakeEveryRowsOwnCallerBlock) {
  int64_t windowed = 0;
  for (int64_t I = 1; I <= 6000; ++I) {
    const int64_t Ip = round_up_128(I);
    const RowMap w13{true, Ip, I};
    const std::string at = "I = " + std::to_string(I);
    if (I % 128 == 0) {
      EXPECT_FALSE(w13_gemm1_windows(I)) << at;
      EXPECT_EQ(wrong_rows(w13, 0, 2 * Ip, at + ", one w13 block copy"), 0);
    } else if (w13_gemm1_windows(I)) {
      ++windowed;
      const int64_t up0 = w13_up_window_row0(I, Ip);
      EXPECT_EQ(up0 % 16, 0) << at << ": the up window's D columns must stay 16-byte aligned";
      EXPECT_LE(up0, Ip) << at;
      EXPECT_EQ(wrong_rows(w13, 0, Ip, at + ", gate window"), 0);
      EXPECT_EQ(wrong_rows(w13, up0, 2 * Ip, at + ", up window"), 0);
    }
  }
  EXPECT_GT(windowed, 300);  // the rule is not vacuous: I % 16 == 0, I >= 64, I % 128 != 0
  EXPECT_TRUE(w13_gemm1_windows(2880));  // gpt-oss-120b
}

// Why the windows stop below 64 rows: with I = 48 the up window's first block ends on padding at both ends, so
// scale_source_row finds no real row and the 48 up rows between would take no scale.
TEST(WeightRows, SmallIntermediateSizesKeepPerRowScales) {
  for (int64_t I : {16, 32, 48}) {
    EXPECT_FALSE(w13_gemm1_windows(I)) << I;
    const int64_t Ip = round_up_128(I);
    const RowMap w13{true, Ip, I};
    const int64_t up0 = w13_up_window_row0(I, Ip);
    EXPECT_LT(scale_source_row(w13, up0, up0 + 127), 0) << I;
    bool real_row_inside = false;
    for (int64_t pr = up0; pr < up0 + 128; ++pr) real_row_inside |= w13.source(pr) >= 0;
    EXPECT_TRUE(real_row_inside) << I;
  }
}

TEST(WeightRows, W2BlocksAlwaysMatchTheCallers) {
  for (int64_t H = 1; H <= 3000; ++H) {
    const RowMap w2{false, 0, H};
    EXPECT_EQ(wrong_rows(w2, 0, round_up_128(H), "H = " + std::to_string(H)), 0);
  }
}
