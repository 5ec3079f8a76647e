// One tile of a block-wide STABLE counting-sort scatter, for both platforms: the routing plan's padded
// expert-sorted order (routing_plan.cuh) and the CUDA streaming tier's grouping pass (experts_stream_rows.cuh).
// Each thread holds one item of the tile, items in increasing order by thread index, keyed by a bucket in [0, n)
// (an expert) or -1 (no bucket). An item's position is its bucket's cursor + the items of the same bucket in
// lower warps of the tile + its rank among its own warp's (match_any), so within a bucket the items keep their
// order. The per-warp counts go through a [warps][n] byte histogram in shared memory: three barriers per tile,
// where a warp-by-warp pass (one barrier per warp of the block) took 32.
#pragma once

#include <cstdint>

#include "../portability.h"
#include "index_math.h"
#include "warp.cuh"

namespace moekit::device {

// Per-warp counts are at most kWarpSize (<= 64) items: one byte each.
using TileHistogram = uint8_t;

// Every thread of the block calls this once per tile (it synchronises the block three times). `tile_hist` holds
// warps_per_block() * n zero bytes on entry, and again on return; cursor[key] advances by the tile's items of
// `key`. Returns the item's position, or -1 for key -1.
MOEKIT_DEVICE_INLINE long long stable_scatter_position(int key, int n, int32_t* cursor, TileHistogram* tile_hist) {
  const int lane = lane_id(), warp = warp_id();
  const LaneMask below = lanes_below(lane);
  const LaneMask peers = match_any(key);
  const bool valid = key >= 0;
  const bool leader = (peers & below) == 0;
  if (valid && leader) tile_hist[warp * n + key] = static_cast<TileHistogram>(popcount(peers));
  __syncthreads();
  long long position = -1;
  if (valid) {
    int before = 0;
    for (int w = 0; w < warp; ++w) before += tile_hist[w * n + key];
    position = static_cast<long long>(cursor[key]) + before + popcount(peers & below);
  }
  __syncthreads();  // every read of the histogram and the cursors is done
  if (valid && leader) {
    tile_hist[warp * n + key] = 0;
    atomicAdd(&cursor[key], popcount(peers));
  }
  __syncthreads();
  return position;
}

}  // namespace moekit::device
