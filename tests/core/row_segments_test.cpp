// The grouped tier's row split (kernels/cuda/row_segments.h), checked as plain host code: every row's columns are
// covered by its segments with none empty, whole rows where the rows alone give every SM kGlueWarpsPerSm warps,
// and otherwise enough items for that (up to a chunk per item). The kernels that use the split are checked against
// the CPU backend on a GPU (tests/gpu/experts_test.cpp, the grouped cases, among them uneven segments).
#include <gtest/gtest.h>

#include <cstdint>

#include "../../kernels/cuda/row_segments.h"

namespace {

using moekit::cuda::experts::kGlueWarpsPerSm;
using moekit::cuda::experts::kRowChunk;
using moekit::cuda::experts::row_segments;
using moekit::cuda::experts::RowSegments;

TEST(RowSegments, WholeRowsWhereRowsAloneFillEverySm) {
  for (int sms : {1, 80, 132}) {
    const int64_t want = int64_t{sms} * kGlueWarpsPerSm;
    for (int64_t cols : {128, 256, 640, 2944, 14336}) {
      const RowSegments at = row_segments(want, cols, sms), above = row_segments(3 * want, cols, sms);
      EXPECT_TRUE(at.whole() && above.whole()) << sms << " SMs, " << cols << " columns";
      EXPECT_EQ(at.chunks, (cols + kRowChunk - 1) / kRowChunk);
      EXPECT_EQ(at.per_row(), 1);
    }
  }
  // A row of one chunk cannot be split.
  EXPECT_TRUE(row_segments(1, 256, 132).whole());
}

TEST(RowSegments, SegmentsCoverEachRowAndFillTheSmsWherePossible) {
  for (int sms : {1, 7, 80, 132}) {
    const int64_t want = int64_t{sms} * kGlueWarpsPerSm;
    for (int64_t cols = 128; cols <= 20480; cols += 128) {
      for (int64_t rows : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{64}, int64_t{512}, int64_t{2400},
                           want - 1}) {
        if (rows < 0) continue;
        const RowSegments s = row_segments(rows, cols, sms);
        const int64_t chunks = (cols + kRowChunk - 1) / kRowChunk;
        ASSERT_EQ(s.chunks, chunks);
        ASSERT_GE(s.seg_chunks, 1);
        ASSERT_LE(s.seg_chunks, chunks);
        const int64_t per_row = s.per_row();
        // Every chunk in a segment, no segment empty.
        ASSERT_GE(per_row * s.seg_chunks, chunks) << rows << " rows, " << cols << " columns, " << sms << " SMs";
        ASSERT_LT((per_row - 1) * s.seg_chunks, chunks) << rows << " rows, " << cols << " columns, " << sms;
        // Enough items: the wanted warps, or a chunk per item. Rounding the segments up to whole chunks may leave
        // up to half of the wanted items (never fewer: ceil(chunks / ceil(chunks / n)) >= n / 2 for n <= chunks).
        if (rows > 0 && s.seg_chunks > 1) {
          EXPECT_GE(2 * rows * per_row, want) << rows << " rows, " << cols << " columns, " << sms << " SMs";
        }
      }
    }
  }
}

TEST(RowSegments, TheMeasuredShapes) {
  // Mixtral-8x7B T=256 on an H200: 512 rows of Ip = 14336 (56 chunks) -> 8 segments of 7 chunks.
  const RowSegments mixtral = row_segments(512, 14336, 132);
  EXPECT_EQ(mixtral.seg_chunks, 7);
  EXPECT_EQ(mixtral.per_row(), 8);
  // The GPU suite's uneven case: 2400 rows of 640 columns -> segments of 2 chunks and 1 (half of one).
  const RowSegments uneven = row_segments(2400, 640, 132);
  EXPECT_EQ(uneven.chunks, 3);
  EXPECT_EQ(uneven.seg_chunks, 2);
  EXPECT_EQ(uneven.per_row(), 2);
  // Qwen3-30B-A3B T=1024: 8192 rows, past 132 x 32 warps: whole rows.
  EXPECT_TRUE(row_segments(8192, 768, 132).whole());
}

}  // namespace
