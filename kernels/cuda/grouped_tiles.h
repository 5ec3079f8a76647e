// The CUTLASS grouped tier's tiles (grouped_gemm_sm90.h) and the rules that pick them: host code with no CUDA or
// CUTLASS type, so that the core tests check the rules without a GPU (tests/core/grouped_tiles_test.cpp).
#pragma once

#include <cmath>
#include <cstdint>

namespace moekit::cuda::experts::sm90 {

// The kernel's tile. A group of r rows takes ceil(r / tile rows) tiles, so at a few dozen rows per expert a
// 128-row tile computes mostly padding rows: 64-row ping-pong kernels (two consumer warpgroups on two tiles, one's
// epilogue under the other's main loop, as PyTorch's torch._grouped_mm and vLLM's grouped_mm_c3x pick for small
// groups) run those sizes faster, and lose at larger groups, where the 128-row cooperative kernels' fewer B
// reloads per row win. Measured on the H200 (whole layer, same run; time over the 128-row kernel's; the FP8
// figures with per-row W scales, before the per-block W scales of grouped_gemm_sm90.cu):
//   FP8 blocks, 64x128x128:  32 rows per expert 0.78-0.80 (gpt-oss, DeepSeek-V3 T=1024), 64: 0.94 (Qwen3
//                            T=1024), 128: 0.99 (T=4096), 256: 1.02-1.08, 512+: 1.08-1.19;
//   bf16, 64x128x128:        32 rows 0.96-0.98, 64: 1.00, 128: 1.16-1.18, 256+: 1.22-1.33;
//   bf16, 64x256x64:         64 rows 0.98 (Qwen3 T=1024), 128: 0.95-0.97 (DeepSeek-V3, gpt-oss T=4096), 256:
//                            0.96-0.97 (Mixtral T=1024, Qwen3 T=4096), 512: 1.02-1.07, 1024: 0.97-1.06.
// Tried for FP8 past 128 rows and not kept (same runs): cluster 2x1 (1.00-1.20), 256x128x128 (2-3x slower),
// raster along N (1.00-1.14), swizzle 4 (0.99-1.01); for bf16, 128x128x64 (1.07-1.20), cluster 2x1
// (1.00-1.26), raster along N (0.97-1.30). Cluster 1x2 (A multicast to the two N tiles, the public stacks'
// default; bench/results/h200_ab_grouped_cluster_1x2_not_kept.md, T = 4096 / 16384): FP8 0.99-1.00, within
// the runs' spread; bf16 1.01-1.07 at T = 16384 (Qwen3 / gpt-oss / DeepSeek-V3). FP8 GEMM1 on 128x192x128
// (DeepGEMM's N up to 192; bench/results/h200_ab_grouped_fp8_128x192_not_kept.md): 1.14-1.47, the kernel spills
// (144-byte stack).
enum class GroupedTile : int {
  k64x128x128,  // ping-pong; bf16 and FP8 blocks
  k64x256x64,   // ping-pong; bf16
  k128,         // cooperative; bf16 128x256x64, FP8 blocks 128x128x128
};
constexpr double kFp8Tile64MaxRows = 128.0;        // FP8 blocks: 64x128x128 up to 128 rows per expert
constexpr double kBf16Tile64x128MaxRows = 48.0;    // bf16: 64x128x128 up to 48 (32 measured faster, 64 even),
constexpr double kBf16Tile64x256MaxRows = 256.0;   // then 64x256x64 up to 256
// The tile for groups of `rows_per_expert` rows on average (routed rows per local expert, local_rows.h, known on
// the host before the device counts them; skewed routing changes speed, not results).
constexpr GroupedTile grouped_tile_for(bool fp8, double rows_per_expert) {
  if (fp8) return rows_per_expert <= kFp8Tile64MaxRows ? GroupedTile::k64x128x128 : GroupedTile::k128;
  if (rows_per_expert <= kBf16Tile64x128MaxRows) return GroupedTile::k64x128x128;
  return rows_per_expert <= kBf16Tile64x256MaxRows ? GroupedTile::k64x256x64 : GroupedTile::k128;
}

// The tile's name as MOEKIT_CUDA_GROUPED_TILES spells it: "64x128x128", "64x256x64" or "128".
constexpr const char* tile_name(GroupedTile tile) {
  return tile == GroupedTile::k64x128x128 ? "64x128x128" : tile == GroupedTile::k64x256x64 ? "64x256x64" : "128";
}

// Columns of D per tile in both bf16 kernels that grouped_gemm2_tile_for weighs (64x256x64 and 128x256x64).
constexpr double kBf16TileColumns = 256.0;

// GEMM2's tile (bf16): 128x256x64 cooperative instead of grouped_tile_for's 64x256x64 where the 128-row kernel's
// grid fits in one wave, one tile per SM (the 64-row grid, never more than twice its tiles, then fits the ping-pong
// kernel's two per SM). Both then run every tile in one pass over the SMs, and the 128-row tile reads each
// 256-column slab of an expert's weights once for all its rows, where the 64-row tiles of that expert read it once
// per tile (the ping-pong kernel's two tiles on an SM take turns on the tensor cores: the 64-row grid does the same
// math with up to twice the weight reads). An expert's rows are counted as r + sqrt(r), about one standard
// deviation above the mean r of uniform routing (sqrt(r) is the Poisson bound), so that the experts past a tile
// boundary are counted. Only the 64x256x64 range takes it: the other ranges were not measured this way.
// H200, whole layer, 3 rounds per side, same session (bench/results/h200_ab_grouped_bf16_gemm2_one_wave_tile.md):
// Mixtral-8x7B bf16 T=256 (64 rows per expert, N = 4096: 8 x 1 x 16 = 128 tiles of 128 rows) 0.960x
// (790-799 -> 765-767 us). GEMM1 on the 128-row tile at 128-256 rows (many waves) was 1.00-1.04x and stays on the
// average-size rule, as does every GEMM2 with more tiles (Qwen3-30B-A3B T=1024: 128 experts x 1 x 8).
// `rows_per_expert` is the runner's estimate, T * k / E under uniform routing (local_rows.h, rows_per_local_expert),
// as for grouped_tile_for.
inline GroupedTile grouped_gemm2_tile_for(bool fp8, double rows_per_expert, int64_t local_experts, int64_t n,
                                          int sm_count) {
  const GroupedTile chosen = grouped_tile_for(fp8, rows_per_expert);
  if (chosen != GroupedTile::k64x256x64 || local_experts <= 0 || sm_count <= 0) return chosen;
  const double rows = rows_per_expert + std::sqrt(rows_per_expert);
  const double column_tiles = std::ceil(static_cast<double>(n) / kBf16TileColumns);
  const double tiles128 = static_cast<double>(local_experts) * std::ceil(rows / 128.0) * column_tiles;
  return tiles128 <= sm_count ? GroupedTile::k128 : chosen;
}

}  // namespace moekit::cuda::experts::sm90
