// How many routed rows the CUDA expert runner expects on this rank's experts before the device has counted them:
// under expert parallelism only L of the E experts are local, so of `count` routed rows (assignments, or one
// token's k slots) count * L / E land on local experts under uniform routing. The host sizes grids and picks paths
// from this estimate (a graph-captured layer cannot wait for the device's count): the tier and the grouped tier's
// tiles (rows per local expert), the grouped tier's glue split (row_segments.h), its FP8 gather's per-token
// quantization, and the streaming tier's rows per pass and one-token rings. Plain C++, so
// that core's tests check it on any machine (tests/core/local_rows_test.cpp).
#pragma once

#include <cstdint>

namespace moekit::cuda::experts {

// count * L / E, unrounded (0 without experts).
inline double expected_local(int64_t count, int64_t num_local, int64_t num_experts) {
  if (num_experts <= 0) return 0.0;
  return static_cast<double>(count) * static_cast<double>(num_local) / static_cast<double>(num_experts);
}

// The same, rounded down to whole rows: count * L / E in integer arithmetic, which the double above reproduces
// exactly below 2^52 rows x experts (a quotient off an integer is at least 1/E off it).
inline int64_t expected_local_rows(int64_t count, int64_t num_local, int64_t num_experts) {
  return static_cast<int64_t>(expected_local(count, num_local, num_experts));
}

// Routed rows per local expert on average: the expected local rows, count * L / E, over the L local experts, that
// is count / E (0 without local experts). Without expert parallelism (L = E) it is count / L; with it, count / L
// would count every routed row as local, E / L times too many.
inline double rows_per_local_expert(int64_t count, int64_t num_local, int64_t num_experts) {
  if (num_local <= 0) return 0.0;
  return expected_local(count, num_local, num_experts) / static_cast<double>(num_local);
}

}  // namespace moekit::cuda::experts
