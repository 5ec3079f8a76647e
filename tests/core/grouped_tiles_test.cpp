// The CUDA grouped tier's tile rules (kernels/cuda/grouped_tiles.h), checked as plain host code: bf16 GEMM2 moves
// from 64x256x64 to the 128-row cooperative tile only where that tile's grid fits in one wave (one tile per SM),
// counted here by hand for the benchmark's presets on an H200 (132 SMs) and on a smaller device.
#include <gtest/gtest.h>

#include <cstdint>

#include "../../kernels/cuda/grouped_tiles.h"

namespace {

using moekit::cuda::experts::sm90::grouped_gemm2_tile_for;
using moekit::cuda::experts::sm90::grouped_tile_for;
using moekit::cuda::experts::sm90::GroupedTile;

constexpr int kH200Sms = 132;

TEST(GroupedTiles, Gemm2TakesThe128RowTileWhereBothGridsFitOneWave) {
  // Mixtral-8x7B bf16 T=256: 64 rows per expert (+8 for the spread: 72), N = 4096 (16 slabs of 256 columns):
  // 8 x 1 x 16 = 128 tiles of 128 rows (<= 132).
  EXPECT_EQ(grouped_tile_for(false, 64.0), GroupedTile::k64x256x64);
  EXPECT_EQ(grouped_gemm2_tile_for(false, 64.0, 8, 4096, kH200Sms), GroupedTile::k128);
  // The same layer on 100 SMs: 128 tiles of 128 rows take more than one wave of 100.
  EXPECT_EQ(grouped_gemm2_tile_for(false, 64.0, 8, 4096, 100), GroupedTile::k64x256x64);
}

TEST(GroupedTiles, Gemm2KeepsTheAverageSizeRuleWhereTheGridsTakeMoreWaves) {
  // Mixtral-8x7B T=512 (128 rows, +11.3: 2 tiles of 128 rows per expert, 8 x 2 x 16 = 256 > 132) and T=1024
  // (256 rows): GEMM1's tile.
  EXPECT_EQ(grouped_gemm2_tile_for(false, 128.0, 8, 4096, kH200Sms), GroupedTile::k64x256x64);
  EXPECT_EQ(grouped_gemm2_tile_for(false, 256.0, 8, 4096, kH200Sms), GroupedTile::k64x256x64);
  // Qwen3-30B-A3B T=1024 (64 rows, N = 2048): 128 x 1 x 8 = 1024 tiles of 128 rows.
  EXPECT_EQ(grouped_gemm2_tile_for(false, 64.0, 128, 2048, kH200Sms), GroupedTile::k64x256x64);
  // DeepSeek-V3 and gpt-oss-120b T=4096 (128 rows, 256 and 128 experts).
  EXPECT_EQ(grouped_gemm2_tile_for(false, 128.0, 256, 7168, kH200Sms), GroupedTile::k64x256x64);
  EXPECT_EQ(grouped_gemm2_tile_for(false, 128.0, 128, 2944, kH200Sms), GroupedTile::k64x256x64);
}

TEST(GroupedTiles, Gemm2ChangesOnlyThe64x256TileOfBf16) {
  for (double rows : {1.0, 16.0, 48.0, 49.0, 64.0, 128.0, 129.0, 256.0, 257.0, 1024.0}) {
    // FP8 blocks have no 64x256x64 kernel: GEMM2 keeps the average-size rule at every size.
    EXPECT_EQ(grouped_gemm2_tile_for(true, rows, 8, 4096, kH200Sms), grouped_tile_for(true, rows)) << rows;
    // bf16 64x128x128 (up to 48 rows) and 128x256x64 (past 256) stay as they are, even on a one-wave grid.
    if (grouped_tile_for(false, rows) != GroupedTile::k64x256x64) {
      EXPECT_EQ(grouped_gemm2_tile_for(false, rows, 1, 256, kH200Sms), grouped_tile_for(false, rows)) << rows;
    }
  }
  // Nothing to place (no local experts, no SM count known): the average-size rule.
  EXPECT_EQ(grouped_gemm2_tile_for(false, 64.0, 0, 4096, kH200Sms), GroupedTile::k64x256x64);
  EXPECT_EQ(grouped_gemm2_tile_for(false, 64.0, 8, 4096, 0), GroupedTile::k64x256x64);
}

TEST(GroupedTiles, Gemm2BoundaryIsTheWaveNotTheRows) {
  // 49 rows (+7 = 56: one tile of either size per expert), N = 256: L experts give L tiles of each kind. One wave
  // of the 128-row kernel holds 132: L = 132 moves, L = 133 stays.
  EXPECT_EQ(grouped_gemm2_tile_for(false, 49.0, 132, 256, kH200Sms), GroupedTile::k128);
  EXPECT_EQ(grouped_gemm2_tile_for(false, 49.0, 133, 256, kH200Sms), GroupedTile::k64x256x64);
  // N = 384 (a hidden_pad, a multiple of 128) takes two column slabs: 66 experts give 132 tiles of 128 rows, 67
  // give 134.
  EXPECT_EQ(grouped_gemm2_tile_for(false, 49.0, 66, 384, kH200Sms), GroupedTile::k128);
  EXPECT_EQ(grouped_gemm2_tile_for(false, 49.0, 67, 384, kH200Sms), GroupedTile::k64x256x64);
}

}  // namespace
