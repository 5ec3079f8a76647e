// How the CUDA expert runner's grouped-tier glue (experts_row_kernels.cuh: the 16-bit gather, the activation
// pass) splits rows among warps: host code picks the split from the rows it expects, before the device counts them,
// so that a whole layer stays capturable in a CUDA graph. Plain C++ as well as device code, so that core's tests
// check the rule on any machine (tests/core/row_segments_test.cpp).
#pragma once

#include <cstdint>

#include "../common/portability.h"

namespace moekit::cuda::experts {

// Where a row's 256-column chunks stand alone (16-bit gather, activation without a per-token scale) a warp takes a
// segment of a row, seg_chunks chunks of 8 columns per lane, instead of the whole row: whole rows (seg_chunks = all
// of them) where the rows alone give every SM kGlueWarpsPerSm warps, else segments enough for that. With a warp per
// row, a few hundred warps streamed 14336-column rows at Mixtral-8x7B T=256 (512 real rows): ncu on the H200, the
// activation pass took 68 us for 44 MB (0.65 TB/s). H200, whole layer, same run, segments vs whole rows: Mixtral
// T=256 bf16 861 -> 808 us, FP8 616 -> 539; T=1024 0.980 / 0.958x (bench/results/h200_ab_grouped_glue_row_segments.md).
// Segments are not made shorter than they need to be, and whole rows compile without the segment math: one chunk
// per item everywhere was 2-9 % slower where rows were plentiful (bf16 T=1024-4096 on Qwen3-30B-A3B, Mixtral and
// DeepSeek-V3), segments with their index math everywhere 1.5 % (Qwen3 bf16 T=1024).
constexpr int64_t kRowChunk = 256;
constexpr int64_t kGlueWarpsPerSm = 32;
struct RowSegments {
  int64_t chunks;      // per row: ceil(cols / 256)
  int64_t seg_chunks;  // per item
  MOEKIT_HOST_DEVICE int64_t per_row() const { return (chunks + seg_chunks - 1) / seg_chunks; }
  bool whole() const { return seg_chunks >= chunks; }
};
// real_rows: the rows expected to carry data (local assignments under uniform routing, A * L / E), known on the
// host before the device counts them.
inline RowSegments row_segments(int64_t real_rows, int64_t cols, int sm_count) {
  const int64_t chunks = (cols + kRowChunk - 1) / kRowChunk;
  const int64_t want = static_cast<int64_t>(sm_count) * kGlueWarpsPerSm;
  if (real_rows >= want || chunks <= 1) return {chunks, chunks};
  int64_t segs = (want + real_rows - 1) / (real_rows > 0 ? real_rows : 1);
  if (segs > chunks) segs = chunks;
  return {chunks, (chunks + segs - 1) / segs};
}

}  // namespace moekit::cuda::experts
