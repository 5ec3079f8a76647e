// Block-wide exclusive prefix sum of one value per thread (T: int or long long), for both platforms (CUB is
// CUDA-only and hipCUB is not in Debian's HIP): a shuffle scan inside each warp, the warp totals through shared
// memory, then every warp scans the warp totals itself (at most one warp's width of them), so that one block barrier
// does, where one warp scanning them into shared memory for the others takes a second. Shared storage: one value per
// warp (a 1024-thread block: 256 bytes of long long on CUDA, 128 on CDNA).
#pragma once

#include "../portability.h"
#include "index_math.h"
#include "warp.cuh"

namespace moekit::device {

template <int kThreads, class T = long long>
struct BlockExclusiveSum {
  static_assert(kThreads % kWarpSize == 0, "whole warps");
  static constexpr int kWarps = kThreads / kWarpSize;
  static_assert(kWarps <= kWarpSize, "one warp's lanes hold the warp totals");
  struct Storage {
    T warp_total[kWarps];
  };

  // Every thread of the block calls this once; `prefix` gets the sum of the values of lower threads and
  // `total` the sum over the block. Synchronises the block once, before it reads the storage: nothing may write
  // the storage again before every thread has returned (a second scan over it needs a barrier in between).
  static MOEKIT_DEVICE_INLINE void scan(Storage& s, T value, T& prefix, T& total) {
    const int lane = lane_id(), warp = warp_id();
    T inclusive = value;
    for (int offset = 1; offset < kWarpSize; offset <<= 1) {
      const T below = shfl_up(inclusive, static_cast<unsigned>(offset));
      if (lane >= offset) inclusive += below;
    }
    if (lane == kWarpSize - 1) s.warp_total[warp] = inclusive;
    __syncthreads();
    T t = kWarps == kWarpSize || lane < kWarps ? s.warp_total[lane] : T{0};
    for (int offset = 1; offset < kWarpSize; offset <<= 1) {
      const T below = shfl_up(t, static_cast<unsigned>(offset));
      if (lane >= offset) t += below;
    }
    // Lane i now holds the sum of warps 0..i. Every lane takes part in both shuffles (warp-uniform).
    const T warps_below = shfl(t, (warp + kWarpSize - 1) % kWarpSize);  // warp 0 takes the last lane's, unused
    total = shfl(t, kWarps - 1);
    prefix = (warp == 0 ? T{0} : warps_below) + inclusive - value;
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
