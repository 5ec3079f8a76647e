// Block-wide exclusive prefix sum of one 64-bit value per thread, for both platforms (CUB is CUDA-only and
// hipCUB is not in Debian's HIP): a shuffle scan inside each warp, then one warp scans the warp totals.
// Shared storage: one value per warp, so a 1024-thread block needs 256 bytes on CUDA and 128 on CDNA.
#pragma once

#include "../portability.h"
#include "index_math.h"
#include "warp.cuh"

namespace moekit::device {

template <int kThreads>
struct BlockExclusiveSum {
  static_assert(kThreads % kWarpSize == 0, "whole warps");
  static constexpr int kWarps = kThreads / kWarpSize;
  static_assert(kWarps <= kWarpSize, "one warp scans the warp totals");
  struct Storage {
    long long warp_total[kWarps];
  };

  // Every thread of the block calls this once; `prefix` gets the sum of the values of lower threads and
  // `total` the sum over the block. Synchronises the block (twice).
  static MOEKIT_DEVICE_INLINE void scan(Storage& s, long long value, long long& prefix, long long& total) {
    const int lane = lane_id(), warp = warp_id();
    long long inclusive = value;
    for (int offset = 1; offset < kWarpSize; offset <<= 1) {
      const long long below = shfl_up(inclusive, static_cast<unsigned>(offset));
      if (lane >= offset) inclusive += below;
    }
    if (lane == kWarpSize - 1) s.warp_total[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
      long long t = lane < kWarps ? s.warp_total[lane] : 0;
      for (int offset = 1; offset < kWarpSize; offset <<= 1) {
        const long long below = shfl_up(t, static_cast<unsigned>(offset));
        if (lane >= offset) t += below;
      }
      if (lane < kWarps) s.warp_total[lane] = t;  // now inclusive over warps
    }
    __syncthreads();
    const long long warps_below = warp == 0 ? 0 : s.warp_total[warp - 1];
    prefix = warps_below + inclusive - value;
    total = s.warp_total[kWarps - 1];
  }
};

// The start of each expert's run in a padded expert-sorted order: the sum of the padded counts
// (padded_to_block(counts[e'], block)) of the experts e' < e, for the routing-plan kernels. Every thread of a
// kThreads block calls it; thread tid owns experts [tid * kItems, tid * kItems + kItems) and gets
// on_start(e, start) for each of them below n. Returns the padded total (every thread). Synchronises the block.
template <int kThreads, int kItems, class OnStart>
MOEKIT_DEVICE_INLINE long long scan_padded_runs(typename BlockExclusiveSum<kThreads>::Storage& storage,
                                                const int32_t* counts, int n, long long block, OnStart on_start) {
  const int tid = static_cast<int>(threadIdx.x);
  long long padded[kItems];
  long long thread_sum = 0;
  for (int q = 0; q < kItems; ++q) {
    const int e = tid * kItems + q;
    padded[q] = e < n ? padded_to_block(counts[e], block) : 0;
    thread_sum += padded[q];
  }
  long long prefix = 0, total = 0;
  BlockExclusiveSum<kThreads>::scan(storage, thread_sum, prefix, total);
  for (int q = 0; q < kItems; ++q) {
    const int e = tid * kItems + q;
    if (e < n) on_start(e, prefix);
    prefix += padded[q];
  }
  return total;
}

}  // namespace moekit::device
