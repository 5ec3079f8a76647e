// The metadata half of a routing plan, from topk_ids, with no host synchronisation, for both modules:
//  - bitmatrix: one thread per (token, 32-expert word) — words are 32 bits on every platform;
//  - expert counts, the padded expert-sorted order (vLLM moe_align_block_size semantics) and the per-block
//    expert ids: one block of 1024 threads. Counting uses warp-aggregated shared-memory atomics (match_any),
//    so a skewed plan (every token on one expert) does not serialise on one counter. The scatter is STABLE,
//    like the CPU backend's: within an expert, flat indices t*k+j stay in increasing order. Each tile of
//    kPlanThreads ids gets, per warp, a per-expert count (shared histogram); an id's slot is its expert's
//    cursor + the counts of the lower warps + its rank among equal ids of its own warp.
// Large inputs (more than kSingleBlockMaxIds ids) take the chunked multi-block plan instead
// (routing_plan_chunked.cuh): same output, one block per chunk of ids.
// Ids outside [0, E) set no bit, count nothing and index nothing (index_math.h). Semantics:
// core/src/cpu/cpu_routing_plan.cpp. Include from exactly one translation unit per module (defines kernels).
#pragma once

#include <cstdint>
#include <string>

#include "../moekit_plugin.h"
#include "../portability.h"
#include "block_scan.cuh"
#include "index_math.h"
#include "limits.h"
#include "routing_plan_chunked.cuh"
#include "routing_plan_params.h"
#include "stable_scatter.cuh"
#include "warp.cuh"

namespace moekit::device {

// One block of 1024 threads: the plan pass is a single block (no global scratch, so nothing to allocate or to
// share between streams), and wide tiles cut its barrier count. Per-warp tile counts are <= kWarpSize (<= 64):
// one byte each.
constexpr int kPlanThreads = 1024;
constexpr int kPlanWarps = kPlanThreads / kWarpSize;
constexpr int kScanItems = (kMaxDeviceExperts + kPlanThreads - 1) / kPlanThreads;  // experts per thread in the scan

// Dynamic shared bytes of plan_metadata_kernel for E experts.
inline size_t plan_shared_bytes(int32_t experts) {
  return static_cast<size_t>(experts) * (3 * sizeof(int32_t) + kPlanWarps * sizeof(TileHistogram)) + 16;
}

__global__ void bitmatrix_kernel(const int32_t* ids, long long tokens, int k, int32_t experts, int words,
                                 uint32_t* bits) {
  const long long total = tokens * words;
  for (long long w = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; w < total;
       w += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long t = w / words;
    const int word = static_cast<int>(w - t * words);
    bits[w] = bitmatrix_word(ids + t * k, k, experts, word);
  }
}

__global__ void fill_i32_kernel(int32_t* data, long long n, int32_t value) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    data[i] = value;
}

__global__ void __launch_bounds__(kPlanThreads) plan_metadata_kernel(const MOEKIT_GRID_CONSTANT PlanParams p) {
  extern __shared__ int32_t plan_shared[];
  const int n = p.experts;
  int32_t* counts = plan_shared;   // [E]
  int32_t* start = counts + n;     // [E] first slot of each expert's run
  int32_t* cursor = start + n;     // [E] next free slot of each run
  TileHistogram* tile_hist = reinterpret_cast<TileHistogram*>(cursor + n);  // [warps][E] (stable_scatter.cuh)
  __shared__ int32_t padded_total;
  __shared__ typename BlockExclusiveSum<kPlanThreads>::Storage scan_storage;

  const int tid = static_cast<int>(threadIdx.x), lane = lane_id();
  const LaneMask below = lanes_below(lane);
  for (int e = tid; e < n; e += kPlanThreads) counts[e] = 0;
  for (int i = tid; i < kPlanWarps * n; i += kPlanThreads) tile_hist[i] = 0;
  __syncthreads();

  // 1. Counts. Every thread runs the same number of iterations: match_any needs the whole warp.
  const long long total_ids = p.assignments;
  for (long long base = 0; base < total_ids; base += kPlanThreads) {
    const long long i = base + tid;
    const int32_t e = i < total_ids ? p.ids[i] : -1;
    const bool valid = valid_expert(e, n);
    const LaneMask peers = match_any(valid ? e : -1);
    if (valid && (peers & below) == 0) atomicAdd(&counts[e], popcount(peers));
  }
  __syncthreads();

  // 2. Runs: start[e] = sum of the padded counts of the experts before e.
  const long long block = p.block_size;
  const long long total =
      scan_padded_runs<kPlanThreads, kScanItems>(scan_storage, counts, n, block, [&](int e, long long at) {
        start[e] = cursor[e] = static_cast<int32_t>(at);  // <= max_sorted <= INT32_MAX (core)
      });
  if (tid == 0) padded_total = static_cast<int32_t>(total);
  __syncthreads();

  if (p.counts != nullptr)
    for (int e = tid; e < n; e += kPlanThreads) p.counts[e] = counts[e];
  if (p.sorted == nullptr) return;  // uniform across the block
  if (tid == 0) p.post_padded[0] = padded_total;

  // 3. Stable scatter (the padding slots were filled with T*k by fill_i32_kernel, earlier on the stream).
  for (long long base = 0; base < total_ids; base += kPlanThreads) {
    const long long i = base + tid;
    const int32_t e = i < total_ids ? p.ids[i] : -1;
    const long long slot = stable_scatter_position(valid_expert(e, n) ? e : -1, n, cursor, tile_hist);
    if (slot >= 0 && slot < p.sorted_len) p.sorted[slot] = static_cast<int32_t>(i);
  }

  // 4. Expert of each block (block_owner: the expert whose run holds the block's first slot, if local).
  for (long long b = tid; b < p.blocks_len; b += kPlanThreads)
    p.block_ids[b] = block_owner(start, n, b * block, padded_total, p.local_mask);
}

// Host launcher: bitmatrix, then (if counts or the sorted order are wanted) either the chunked plan or the
// fill and the single-block pass. `policy` chooses between them (the GPU tests force either one).
template <class Runtime>
void launch_plan_metadata_on(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan,
                             typename Runtime::Stream stream, PlanChunkPolicy policy = {}) {
  const int32_t n = cfg.num_experts;
  const int32_t k = cfg.top_k;
  const int64_t tokens = plan.topk_ids.shape[0];
  const auto* ids = static_cast<const int32_t*>(plan.topk_ids.data);
  const bool want_counts = plan.expert_counts.data != nullptr;
  const bool want_sorted = plan.sorted_token_ids.data != nullptr;
  if ((want_counts || want_sorted) && n > kMaxDeviceExperts)
    Runtime::unsupported(std::string("routing plan: the ") + Runtime::kName + " module counts and sorts at most " +
                         std::to_string(kMaxDeviceExperts) + " experts, got num_experts " + std::to_string(n) +
                         " (use the CPU backend)");

  if (plan.bitmatrix.data != nullptr && tokens > 0) {
    const int words = bitmatrix_words(n);
    bitmatrix_kernel<<<grid_blocks(tokens * words, 256), 256, 0, stream>>>(
        ids, tokens, k, n, words, static_cast<uint32_t*>(plan.bitmatrix.data));
    Runtime::check_launch("bitmatrix_kernel");
  }
  if (!want_counts && !want_sorted) return;

  const PlanParams p = make_plan_params(cfg, plan);
  const PlanChunks chunks =
      plan_chunks(p.assignments, n, p.sorted != nullptr ? 2 * p.blocks_len : -1, policy);
  if (chunks.chunks > 0) {
    launch_chunked_plan<Runtime>(p, chunks, stream);
    return;
  }
  if (p.sorted != nullptr && p.sorted_len > 0) {
    fill_i32_kernel<<<grid_blocks(p.sorted_len, 256), 256, 0, stream>>>(p.sorted, p.sorted_len,
                                                                        static_cast<int32_t>(p.assignments));
    Runtime::check_launch("fill_i32_kernel");
  }
  plan_metadata_kernel<<<1, kPlanThreads, plan_shared_bytes(n), stream>>>(p);
  Runtime::check_launch("plan_metadata_kernel");
}

}  // namespace moekit::device
