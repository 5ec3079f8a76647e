// The multi-block ("chunked") half of the routing plan, for inputs too large for one block to go through
// quickly (T*k ids split into C chunks, one block each). Same output as the single-block plan_metadata_kernel
// and as the CPU plan: within one expert, ids in increasing flat index; runs padded with T*k; block ids -1 past
// the padded total and for non-local experts. Two launches, no host synchronisation, no global scratch of its
// own (so nothing to allocate and nothing shared between streams):
//  1. plan_chunk_histogram_kernel: chunk c counts its ids per expert and stores the counts as uint16 in row c of
//     a [C][E] table that lives in the block_expert_ids buffer (not yet written; 2 * max_blocks uint16 slots;
//     plan_chunks() picks C so that the table fits and no chunk count exceeds 65535). Block 0 zeroes
//     num_tokens_post_padded, the second kernel's "blocks finished" counter.
//  2. plan_chunk_scatter_kernel: every block reads the whole table (a few KiB), so every block knows the
//     per-expert totals, the padded runs and how many ids of each expert the chunks before its own hold: no
//     third pass.
//     Chunk c then fills the padding of experts e = c, c + C, ... and its share of the tail past the padded
//     total, and scatters its ids stably: each warp takes a contiguous span of the chunk; per-warp counts per
//     expert (uint16, shared) scanned over warps give each warp its first slot per expert, and inside a warp an
//     id's rank among equal ids comes from a ballot match on the bits of the expert id (match_key). The block
//     that finishes last (atomic ticket on num_tokens_post_padded, after every block has read the table)
//     writes counts, the padded total and the block ids over the table.
// Counts-only plans (no sorted order) have no table: kernel 1 adds its chunk counts into the zeroed counts.
// Ids outside [0, E) count nothing and index nothing (index_math.h); every slot is bounds-checked.
// Included by routing_plan.cuh (one translation unit per module defines the kernels).
#pragma once

#include <cstdint>

#include "../moekit_plugin.h"
#include "../portability.h"
#include "block_scan.cuh"
#include "index_math.h"
#include "limits.h"
#include "routing_plan_params.h"
#include "warp.cuh"

namespace moekit::device {

// 512 threads: the per-warp uint16 counts of 1024 experts (16 warps x 1024 x 2 B on CUDA) plus three int32
// arrays of E stay under the 48 KiB of shared memory a kernel gets without an opt-in.
constexpr int kChunkThreads = 512;
constexpr int kChunkWarps = kChunkThreads / kWarpSize;
constexpr int kChunkScanItems = (kMaxDeviceExperts + kChunkThreads - 1) / kChunkThreads;
// Ids a thread (kernel 1) or a lane (kernel 2) loads before it processes them: independent loads in flight
// instead of one memory latency per step.
constexpr int kIdsPerLoad = 8;
// Inputs of at most this many ids take the single-block plan. H200, E=128/256, k=8 (tests/gpu
// routing_plan_paths_test.cu, Large_PlanPathTimings): the two paths cross near 2048 ids (uniform ids: single
// 12.4/13.3 us, chunked 11.3/12.8 us; every id on one expert: single 8.3/8.1 us, chunked 10.2/11.3 us); below
// that the single block is 1-4 us faster, above it the chunked plan wins (8192 ids: 15 vs 32 us; 131072 ids:
// 19-29 vs 444-489 us).
constexpr long long kSingleBlockMaxIds = 2048;
constexpr long long kMinChunkIds = 1024;  // 512 measured the same, 2048 up to 3 us slower at 1536..2048 ids
constexpr long long kMaxPlanChunks = 128;  // about one wave of blocks on a large GPU
// Table entries and per-warp offsets are uint16: a chunk holds at most this many ids (a multiple of the block).
constexpr long long kMaxTableChunkIds = 65535 / kChunkThreads * kChunkThreads;

// How the chunked plan splits the ids; chunks == 0: take the single-block plan instead.
struct PlanChunks {
  int32_t chunks = 0;
  int32_t chunk_ids = 0;  // a multiple of kChunkThreads, so each warp's span is whole warp steps
};

// The thresholds, as parameters so that the GPU tests can force small inputs through the chunked kernels.
struct PlanChunkPolicy {
  long long single_block_max_ids = kSingleBlockMaxIds;
  long long min_chunk_ids = kMinChunkIds;
};

// Host side. `table_slots`: uint16 slots the count table may use (2 * block_expert_ids length), or -1 for a
// counts-only plan (no table, no per-chunk limit).
inline PlanChunks plan_chunks(long long assignments, int32_t experts, long long table_slots,
                              PlanChunkPolicy policy = {}) {
  if (assignments <= 0 || assignments <= policy.single_block_max_ids || experts <= 0 || policy.min_chunk_ids <= 0)
    return {};
  const bool table = table_slots >= 0;
  long long chunks = (assignments + policy.min_chunk_ids - 1) / policy.min_chunk_ids;
  if (chunks > kMaxPlanChunks) chunks = kMaxPlanChunks;
  if (table && chunks > table_slots / experts) chunks = table_slots / experts;
  if (chunks < 1) return {};
  long long chunk_ids = (assignments + chunks - 1) / chunks;
  chunk_ids = (chunk_ids + kChunkThreads - 1) / kChunkThreads * kChunkThreads;
  if (table && chunk_ids > kMaxTableChunkIds) return {};
  if (chunk_ids > 0x7FFFFFFFLL) return {};
  chunks = (assignments + chunk_ids - 1) / chunk_ids;  // <= the chunks above: rounding up only shrinks it
  return PlanChunks{static_cast<int32_t>(chunks), static_cast<int32_t>(chunk_ids)};
}

struct ChunkedPlanParams {
  PlanParams plan;
  int32_t chunk_ids;
  int32_t key_bits;  // expert_key_bits(E)
};

// Dynamic shared bytes of plan_chunk_histogram_kernel / plan_chunk_scatter_kernel for E experts.
inline size_t chunk_histogram_shared_bytes(int32_t experts) { return static_cast<size_t>(experts) * sizeof(int32_t); }
inline size_t chunk_scatter_shared_bytes(int32_t experts) {
  return static_cast<size_t>(experts) * (3 * sizeof(int32_t) + kChunkWarps * sizeof(uint16_t)) + 16;
}

// Bits of the match key: ids in [0, E) are their own key, every other id gets key E.
inline int32_t expert_key_bits(int32_t experts) {
  int32_t bits = 1;
  while (bits < 31 && (1 << bits) <= experts) ++bits;
  return bits;
}

// Lanes of the warp whose key equals this lane's: one ballot per key bit (<= 11 for E <= 1024), a cost that
// does not depend on how many distinct experts the step holds (match_any's does: on CDNA it is a loop over
// the distinct values, warp.cuh). Every lane of the warp must call it with the same `bits`.
MOEKIT_DEVICE_INLINE LaneMask match_key(int32_t key, int32_t bits) {
  LaneMask same = kFullLaneMask;
  for (int32_t b = 0; b < bits; ++b) {
    const bool set = ((static_cast<uint32_t>(key) >> b) & 1u) != 0u;
    const LaneMask vote = ballot(set);
    same &= set ? vote : ~vote;
  }
  return same;
}

__global__ void __launch_bounds__(kChunkThreads)
    plan_chunk_histogram_kernel(const MOEKIT_GRID_CONSTANT ChunkedPlanParams cp) {
  extern __shared__ int32_t chunk_counts[];  // [E]
  const PlanParams& p = cp.plan;
  const int n = p.experts;
  const int tid = static_cast<int>(threadIdx.x);
  const LaneMask below = lanes_below(lane_id());
  for (int e = tid; e < n; e += kChunkThreads) chunk_counts[e] = 0;
  __syncthreads();

  const long long begin = static_cast<long long>(blockIdx.x) * cp.chunk_ids;
  const long long end = begin + cp.chunk_ids < p.assignments ? begin + cp.chunk_ids : p.assignments;
  for (long long base = begin; base < end; base += static_cast<long long>(kChunkThreads) * kIdsPerLoad) {
    int32_t ids[kIdsPerLoad];
#pragma unroll
    for (int q = 0; q < kIdsPerLoad; ++q) {
      const long long i = base + static_cast<long long>(q) * kChunkThreads + tid;
      ids[q] = i < end ? p.ids[i] : -1;
    }
#pragma unroll
    for (int q = 0; q < kIdsPerLoad; ++q) {
      if (base + static_cast<long long>(q) * kChunkThreads >= end) break;  // uniform across the block
      const bool valid = valid_expert(ids[q], n);
      const LaneMask peers = match_key(valid ? ids[q] : n, cp.key_bits);
      if (valid && (peers & below) == 0) atomicAdd(&chunk_counts[ids[q]], popcount(peers));
    }
  }
  __syncthreads();

  if (p.sorted != nullptr) {
    uint16_t* row = reinterpret_cast<uint16_t*>(p.block_ids) + static_cast<long long>(blockIdx.x) * n;
    for (int e = tid; e < n; e += kChunkThreads) row[e] = static_cast<uint16_t>(chunk_counts[e]);  // <= chunk_ids
    if (blockIdx.x == 0 && tid == 0) p.post_padded[0] = 0;
  } else {
    for (int e = tid; e < n; e += kChunkThreads)
      if (chunk_counts[e] != 0) atomicAdd(&p.counts[e], chunk_counts[e]);
  }
}

// Loads up to kIdsPerLoad warp steps of a warp's span [base, end) (lane-strided), -1 past the end.
MOEKIT_DEVICE_INLINE void load_warp_steps(const int32_t* ids, long long base, long long end, int lane,
                                          int32_t (&out)[kIdsPerLoad]) {
#pragma unroll
  for (int q = 0; q < kIdsPerLoad; ++q) {
    const long long i = base + static_cast<long long>(q) * kWarpSize + lane;
    out[q] = i < end ? ids[i] : -1;
  }
}

__global__ void __launch_bounds__(kChunkThreads)
    plan_chunk_scatter_kernel(const MOEKIT_GRID_CONSTANT ChunkedPlanParams cp) {
  extern __shared__ int32_t scatter_shared[];
  const PlanParams& p = cp.plan;
  const int n = p.experts;
  int32_t* total = scatter_shared;  // [E] ids of each expert, all chunks
  int32_t* start = total + n;       // [E] first slot of each expert's run
  int32_t* cursor = start + n;      // [E] first slot of this chunk's ids of each expert
  uint16_t* warp_offset = reinterpret_cast<uint16_t*>(cursor + n);  // [warps][E], relative to cursor
  __shared__ int32_t padded_total;
  __shared__ int last_block;
  __shared__ typename BlockExclusiveSum<kChunkThreads>::Storage scan_storage;

  const int tid = static_cast<int>(threadIdx.x), lane = lane_id(), warp = warp_id();
  const LaneMask below = lanes_below(lane);
  const int chunk = static_cast<int>(blockIdx.x), chunks = static_cast<int>(gridDim.x);
  const long long assignments = p.assignments;

  // 1. Totals and this chunk's place in each expert's run, from the count table.
  const uint16_t* table = reinterpret_cast<const uint16_t*>(p.block_ids);
  for (int e = tid; e < n; e += kChunkThreads) {
    int32_t all = 0, before = 0;
    for (int c = 0; c < chunks; ++c) {
      const int32_t v = table[static_cast<long long>(c) * n + e];
      all += v;
      before += c < chunk ? v : 0;
    }
    total[e] = all;
    cursor[e] = before;
  }
  for (int i = tid; i < kChunkWarps * n; i += kChunkThreads) warp_offset[i] = 0;
  __syncthreads();

  const long long block = p.block_size;
  const long long padded_sum =
      scan_padded_runs<kChunkThreads, kChunkScanItems>(scan_storage, total, n, block, [&](int e, long long at) {
        start[e] = static_cast<int32_t>(at);  // <= max_sorted <= INT32_MAX (core)
        cursor[e] += static_cast<int32_t>(at);
      });
  if (tid == 0) padded_total = static_cast<int32_t>(padded_sum);
  __syncthreads();

  // 2. Padding (T*k): warp w of chunk c fills the runs' tails of experts c + C * (w + W * j) (an expert's run ends
  //    where the next one starts), and the block a share of the slots past the padded total. Disjoint from
  //    every id's slot, so no ordering with the scatter is needed.
  const int32_t fill = static_cast<int32_t>(assignments);
  for (int e = chunk + chunks * warp; e < n; e += chunks * kChunkWarps) {
    const long long run_end = e + 1 < n ? start[e + 1] : padded_total;
    for (long long s = static_cast<long long>(start[e]) + total[e] + lane; s < run_end; s += kWarpSize)
      if (s < p.sorted_len) p.sorted[s] = fill;
  }
  for (long long s = padded_total + static_cast<long long>(chunk) * kChunkThreads + tid; s < p.sorted_len;
       s += static_cast<long long>(chunks) * kChunkThreads)
    p.sorted[s] = fill;

  // 3. Per-warp counts of this chunk's ids. Warp w owns the contiguous span [w_begin, w_end) of the chunk, so
  //    ids of lower warps come first within every expert. Only this warp writes its row; within one step the
  //    leaders hold distinct experts, and warp_sync orders the steps.
  const long long span = cp.chunk_ids / kChunkWarps;  // whole warp steps: chunk_ids is a multiple of the block
  const long long w_begin = static_cast<long long>(chunk) * cp.chunk_ids + warp * span;
  const long long w_end = w_begin + span < assignments ? w_begin + span : assignments;
  uint16_t* mine = warp_offset + warp * n;
  for (long long base = w_begin; base < w_end; base += static_cast<long long>(kWarpSize) * kIdsPerLoad) {
    int32_t ids[kIdsPerLoad];
    load_warp_steps(p.ids, base, w_end, lane, ids);
#pragma unroll
    for (int q = 0; q < kIdsPerLoad; ++q) {
      if (base + static_cast<long long>(q) * kWarpSize >= w_end) break;  // uniform across the warp
      const bool valid = valid_expert(ids[q], n);
      const LaneMask peers = match_key(valid ? ids[q] : n, cp.key_bits);
      if (valid && (peers & below) == 0) mine[ids[q]] = static_cast<uint16_t>(mine[ids[q]] + popcount(peers));
      warp_sync();
    }
  }
  __syncthreads();

  // 4. Exclusive scan over warps, per expert: each warp's first offset (<= chunk_ids, fits uint16).
  for (int e = tid; e < n; e += kChunkThreads) {
    int32_t run = 0;
    for (int w = 0; w < kChunkWarps; ++w) {
      const int32_t v = warp_offset[w * n + e];
      warp_offset[w * n + e] = static_cast<uint16_t>(run);
      run += v;
    }
  }
  __syncthreads();

  // 5. Stable scatter: slot = cursor[e] + this warp's offset for e + rank among equal ids in this step.
  for (long long base = w_begin; base < w_end; base += static_cast<long long>(kWarpSize) * kIdsPerLoad) {
    int32_t ids[kIdsPerLoad];
    load_warp_steps(p.ids, base, w_end, lane, ids);
#pragma unroll
    for (int q = 0; q < kIdsPerLoad; ++q) {
      if (base + static_cast<long long>(q) * kWarpSize >= w_end) break;  // uniform across the warp
      const int32_t e = ids[q];
      const bool valid = valid_expert(e, n);
      const LaneMask peers = match_key(valid ? e : n, cp.key_bits);
      const int32_t offset = valid ? mine[e] : 0;
      warp_sync();  // every peer has read the offset before the leader moves it
      if (valid) {
        const long long slot = static_cast<long long>(cursor[e]) + offset + popcount(peers & below);
        if (slot >= 0 && slot < p.sorted_len)
          p.sorted[slot] = static_cast<int32_t>(base + static_cast<long long>(q) * kWarpSize + lane);
        if ((peers & below) == 0) mine[e] = static_cast<uint16_t>(offset + popcount(peers));
      }
      warp_sync();
    }
  }

  // 6. The last block to finish writes what overwrites the table; every block read the table in step 1,
  //    before it took its ticket.
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    last_block = atomicAdd(p.post_padded, 1) == chunks - 1;
  }
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  if (p.counts != nullptr)
    for (int e = tid; e < n; e += kChunkThreads) p.counts[e] = total[e];
  if (tid == 0) p.post_padded[0] = padded_total;
  for (long long b = tid; b < p.blocks_len; b += kChunkThreads)
    p.block_ids[b] = block_owner(start, n, b * block, padded_total, p.local_mask);
}

// Host launcher of the chunked plan (the caller chose `chunks` with plan_chunks for this plan's buffers).
template <class Runtime>
void launch_chunked_plan(const PlanParams& p, PlanChunks chunks, typename Runtime::Stream stream) {
  const ChunkedPlanParams cp{p, chunks.chunk_ids, expert_key_bits(p.experts)};
  if (p.sorted == nullptr) {
    Runtime::memset_async(p.counts, 0, static_cast<size_t>(p.experts) * sizeof(int32_t), stream,
                          "routing plan: zero expert_counts");
    plan_chunk_histogram_kernel<<<chunks.chunks, kChunkThreads, chunk_histogram_shared_bytes(p.experts), stream>>>(cp);
    Runtime::check_launch("plan_chunk_histogram_kernel");
    return;
  }
  plan_chunk_histogram_kernel<<<chunks.chunks, kChunkThreads, chunk_histogram_shared_bytes(p.experts), stream>>>(cp);
  Runtime::check_launch("plan_chunk_histogram_kernel");
  plan_chunk_scatter_kernel<<<chunks.chunks, kChunkThreads, chunk_scatter_shared_bytes(p.experts), stream>>>(cp);
  Runtime::check_launch("plan_chunk_scatter_kernel");
}

}  // namespace moekit::device
