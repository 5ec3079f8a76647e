// Block-wide exclusive prefix sum of one 64-bit value per thread, for both platforms (CUB is CUDA-only and
// hipCUB is not in Debian's HIP): a shuffle scan inside each warp, then one warp scans the warp totals.
// Shared storage: one value per warp, so a 1024-thread block needs 256 bytes on CUDA and 128 on CDNA.
#pragma once

#include "../portability.h"
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

}  // namespace moekit::device
