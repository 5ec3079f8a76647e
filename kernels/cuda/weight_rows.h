// Where the CUDA expert runner's padded weight rows come from, and which of the caller's FP8 scale blocks a run
// of them takes (experts_prepared.h has the layouts). Host and device code: experts_prepare.cu builds the scale
// copies with it, and tests/core/weight_rows_test.cpp checks the block rules against every row on the CPU.
#pragma once

#include <cstdint>

#include "portability.h"

namespace moekit::cuda::experts {

// Which unpadded row feeds padded row `pr`: w13 (gated) puts gate rows at [0, I) and up rows at [ip, ip + I);
// w2 keeps rows [0, rows). -1 for a padding row.
struct RowMap {
  bool gated;
  int64_t ip;    // padded half height (gated only)
  int64_t rows;  // unpadded rows of one half (gated: I) or of the matrix (H)
  MOEKIT_HOST_DEVICE int64_t source(int64_t pr) const {
    if (!gated) return pr < rows ? pr : -1;
    if (pr < ip) return pr < rows ? pr : -1;
    const int64_t u = pr - ip;
    return u < rows ? rows + u : -1;
  }
};

// The unpadded row whose scale block the padded rows [first, last] take: the first row, or the last where the
// first is padding; -1 where both are. Right only where every real row of the run lies in one caller block and a
// run with real rows has one at an end: every run of w2, the 128-row blocks of w13 where I % 128 == 0, and the
// blocks of GEMM1's two windows where w13_gemm1_windows(I) (weight_rows_test.cpp checks these row by row).
MOEKIT_HOST_DEVICE inline int64_t scale_source_row(const RowMap& map, int64_t first, int64_t last) {
  const int64_t r = map.source(first);
  return r >= 0 ? r : map.source(last);
}

// Whether the grouped tier's FP8 GEMM1 runs as two windows with 128-row block scales (experts_prepared.h): where
// I % 128 != 0 puts a caller block across the padded gate/up seam. n % 16 (CUTLASS) needs I % 16 == 0; below 64
// rows the up window's first block would hold its real rows between padding at both ends (I = 48: gate padding
// rows 80..127, up rows 0..47, up padding 48..79), which scale_source_row does not find.
constexpr bool w13_gemm1_windows(int64_t intermediate) {
  return intermediate % 128 != 0 && intermediate % 16 == 0 && intermediate >= 64;
}
// The up window's first padded row: Ip - I % 128, so that its 128-row blocks start where the caller's do.
constexpr int64_t w13_up_window_row0(int64_t intermediate, int64_t intermediate_pad) {
  return intermediate_pad - intermediate % 128;
}

}  // namespace moekit::cuda::experts
